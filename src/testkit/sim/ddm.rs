//! Declarative Device Management as an iPad does it. A `DeclarativeManagement` command
//! announces a DeclarationsToken; when it is not the one the device holds, the device syncs
//! over its check-in channel: `tokens`, `declaration-items`, each declaration whose ServerToken
//! changed (and no other), then checks what it holds as iOS would (Apple's schema, the
//! platforms a configuration supports, the configurations and assets each declaration
//! references) and posts its status, always in full (what it no longer holds is left out).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use plist::{Dictionary, Value};
use serde_json::{json, Map, Value as Json};
use sha2::Digest;

use super::channel::Channel;
use super::client::Answer;
use super::device::{VirtualDevice, BUILD_VERSION, OS_VERSION};
use super::run::{success, SimError, Stats};
use crate::mdm::commands::Platform;
use crate::mdm::declarations::{schema, validate_declaration, Category};

#[derive(Debug, thiserror::Error)]
pub enum DdmError {
    #[error("a DeclarativeManagement command without SyncTokens.DeclarationsToken in its Data")]
    NoTokens,
    #[error("{endpoint} answered a body the protocol does not allow: {detail}")]
    Answer { endpoint: String, detail: String },
}

/// The platform the simulated devices are (iPads).
const PLATFORM: Platform = Platform::Ios;
const SIMPLE_ACTIVATION: &str = "com.apple.activation.simple";
const SU_SPECIFIC: &str = "com.apple.configuration.softwareupdate.enforcement.specific";

#[derive(Debug, Clone)]
struct Reason {
    code: &'static str,
    description: String,
}

/// A declaration as fetched, and what checking it on its own found.
struct Held {
    server_token: String,
    declaration_type: String,
    payload: Json,
    /// Why it cannot be used whatever else the set holds (schema, platform).
    problem: Option<Reason>,
}

/// What the device holds of its declaration set.
#[derive(Default)]
pub struct DdmState {
    /// The DeclarationsToken of the set last synced.
    token: Option<String>,
    /// A command announced a token other than `token`; cleared by a sync that completes, so a
    /// failed one is tried again at the device's next session.
    due: bool,
    held: BTreeMap<(Category, String), Held>,
}

impl DdmState {
    pub(super) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub(super) fn held(&self) -> BTreeMap<String, String> {
        self.held
            .iter()
            .map(|((_, id), h)| (id.clone(), h.server_token.clone()))
            .collect()
    }
}

/// Takes a `DeclarativeManagement` command's tokens: a sync is due when they name a set other
/// than the one held. An error makes the session answer `Error`, as a device does with a
/// command it cannot read.
pub(super) async fn announce(device: &VirtualDevice, command: &Dictionary) -> Result<(), DdmError> {
    let token = command_token(command)?;
    let mut state = device.ddm.lock().await;
    if state.token.as_deref() != Some(token.as_str()) {
        state.due = true;
    }
    Ok(())
}

fn command_token(command: &Dictionary) -> Result<String, DdmError> {
    let data = command.get("Data").and_then(Value::as_data).ok_or(DdmError::NoTokens)?;
    let tokens: Json = serde_json::from_slice(data).map_err(|_| DdmError::NoTokens)?;
    tokens
        .pointer("/SyncTokens/DeclarationsToken")
        .and_then(Json::as_str)
        .map(str::to_owned)
        .ok_or(DdmError::NoTokens)
}

/// Syncs when a command made it due (see the module's doc); otherwise sends nothing.
pub(super) async fn sync_if_due(channel: &Channel, device: &VirtualDevice, stats: &Stats) -> Result<(), SimError> {
    let mut state = device.ddm.lock().await;
    if !state.due {
        return Ok(());
    }
    stats.ddm_syncs.fetch_add(1, Ordering::Relaxed);
    let tokens = fetch_json(channel, device, stats, "tokens").await?;
    let current = tokens.pointer("/SyncTokens/DeclarationsToken").and_then(Json::as_str);
    if current.is_some() && current == state.token.as_deref() {
        // The command was older than the set already held: nothing to fetch or report.
        state.due = false;
        return Ok(());
    }
    let items = fetch_json(channel, device, stats, "declaration-items").await?;
    let (token, listed) = listed(&items)?;
    state.held.retain(|key, _| listed.contains_key(key));
    for (key, server_token) in &listed {
        if state.held.get(key).is_some_and(|h| &h.server_token == server_token) {
            continue;
        }
        let (category, identifier) = key;
        let endpoint = format!("declaration/{}/{identifier}", category.as_str());
        let answer = request(channel, device, stats, &endpoint, None).await?;
        if answer.status == hyper::StatusCode::NOT_FOUND {
            // Removed since the list was served: the sync its removal causes settles it.
            state.held.remove(key);
            continue;
        }
        let declaration = json_of(&endpoint, success(&endpoint, answer)?)?;
        stats.declarations_fetched.fetch_add(1, Ordering::Relaxed);
        let mut held = check(*category, identifier, declaration);
        if held.problem.is_none() && held.declaration_type == LEGACY {
            held.problem = install_profile(channel, device, &held.payload).await?;
        }
        state.held.insert(key.clone(), held);
    }
    let report = state.report();
    let body = serde_json::to_vec(&report).map_err(|e| SimError::Protocol(e.to_string()))?;
    success("status", request(channel, device, stats, "status", Some(body)).await?)?;
    stats.status_reports.fetch_add(1, Ordering::Relaxed);
    state.token = Some(token);
    state.due = false;
    Ok(())
}

/// A legacy profile configuration: its `ProfileURL` is downloaded and installed.
const LEGACY: &str = "com.apple.configuration.legacy";

/// Downloads a legacy configuration's profile as a device does (with its identity) and checks
/// it is the profile the URL names (Annal's data URLs end with the bytes' SHA-256); the reason
/// it cannot be installed, if any.
async fn install_profile(
    channel: &Channel,
    device: &VirtualDevice,
    payload: &Json,
) -> Result<Option<Reason>, SimError> {
    let url = payload.get("ProfileURL").and_then(Json::as_str).unwrap_or_default();
    let failed = |description: String| Reason {
        code: "Error.ProfileInstallationFailed",
        description,
    };
    let answer = channel.fetch_data(device, url).await?;
    if !answer.status.is_success() {
        return Ok(Some(failed(format!("downloading the profile: {}", answer.status))));
    }
    let digest = hex::encode(sha2::Sha256::digest(&answer.body));
    let named = url.rsplit('/').next().unwrap_or_default();
    let is_profile = plist::from_bytes::<plist::Dictionary>(&answer.body)
        .ok()
        .and_then(|d| {
            d.get("PayloadType")
                .and_then(|t| t.as_string().map(|t| t == "Configuration"))
        })
        .unwrap_or(false);
    Ok(match (digest == named, is_profile) {
        (true, true) => None,
        (false, _) => Some(failed("the profile is not the one its URL names".into())),
        (true, false) => Some(failed("not a configuration profile".into())),
    })
}

async fn request(
    channel: &Channel,
    device: &VirtualDevice,
    stats: &Stats,
    endpoint: &str,
    data: Option<Vec<u8>>,
) -> Result<Answer, SimError> {
    let body = device.declarative_management(endpoint, data);
    let signature = channel.signature(device, &body)?;
    stats.pace().await;
    let answer = channel.checkin(signature.as_deref(), body).await?;
    stats.record(&answer);
    Ok(answer)
}

async fn fetch_json(
    channel: &Channel,
    device: &VirtualDevice,
    stats: &Stats,
    endpoint: &str,
) -> Result<Json, SimError> {
    let answer = success(endpoint, request(channel, device, stats, endpoint, None).await?)?;
    json_of(endpoint, answer)
}

fn json_of(endpoint: &str, answer: Answer) -> Result<Json, SimError> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        SimError::Ddm(DdmError::Answer {
            endpoint: endpoint.to_owned(),
            detail: e.to_string(),
        })
    })
}

/// `declaration-items`: its DeclarationsToken and every (category, identifier) → ServerToken.
type Listed = BTreeMap<(Category, String), String>;

fn listed(items: &Json) -> Result<(String, Listed), DdmError> {
    let bad = |detail: &str| DdmError::Answer {
        endpoint: "declaration-items".into(),
        detail: detail.into(),
    };
    let token = items
        .get("DeclarationsToken")
        .and_then(Json::as_str)
        .ok_or_else(|| bad("no DeclarationsToken"))?;
    let groups = items
        .get("Declarations")
        .and_then(Json::as_object)
        .ok_or_else(|| bad("no Declarations"))?;
    let mut listed = Listed::new();
    for category in Category::ALL {
        let Some(entries) = groups.get(group_name(category)) else {
            continue;
        };
        for entry in entries.as_array().ok_or_else(|| bad("a group that is not a list"))? {
            let field = |name| entry.get(name).and_then(Json::as_str);
            let (Some(identifier), Some(server_token)) = (field("Identifier"), field("ServerToken")) else {
                return Err(bad("an item without Identifier and ServerToken"));
            };
            listed.insert((category, identifier.to_owned()), server_token.to_owned());
        }
    }
    Ok((token.to_owned(), listed))
}

/// The name `declaration-items` groups a category under.
fn group_name(category: Category) -> &'static str {
    match category {
        Category::Activation => "Activations",
        Category::Asset => "Assets",
        Category::Configuration => "Configurations",
        Category::Management => "Management",
    }
}

/// The name the status report lists a category under.
fn status_name(category: Category) -> &'static str {
    match category {
        Category::Activation => "activations",
        Category::Asset => "assets",
        Category::Configuration => "configurations",
        Category::Management => "management",
    }
}

/// Checks one fetched declaration on its own, as the device's parser would.
fn check(category: Category, identifier: &str, declaration: Json) -> Held {
    let text = |key: &str| {
        declaration
            .get(key)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (server_token, declaration_type) = (text("ServerToken"), text("Type"));
    let payload = declaration.get("Payload").cloned().unwrap_or(Json::Null);
    let unreadable = |description: String| Reason {
        code: match category {
            Category::Configuration => "Error.ConfigurationCannotBeDeserialized",
            Category::Asset => "Error.AssetCannotBeDeserialized",
            Category::Activation | Category::Management => "Error.InvalidPayload",
        },
        description,
    };
    let problem = match validate_declaration(&declaration) {
        Err(e) => Some(unreadable(e.to_string())),
        Ok(checked) if checked.category != category || checked.identifier != identifier => Some(unreadable(format!(
            "served as {}/{identifier}, is {}/{}",
            category.as_str(),
            checked.category.as_str(),
            checked.identifier
        ))),
        // Apple's schema lists every activation, asset and management type for iOS; some
        // configurations are for other platforms only.
        Ok(_) if category == Category::Configuration && !supported(&declaration_type) => Some(Reason {
            code: "Error.ConfigurationNotSupported",
            description: format!("{declaration_type} is not supported on {PLATFORM}"),
        }),
        Ok(_) => None,
    };
    Held {
        server_token,
        declaration_type,
        payload,
        problem,
    }
}

fn supported(declaration_type: &str) -> bool {
    schema()
        .ok()
        .and_then(|all| all.get(declaration_type))
        .is_some_and(|d| !d.spec.unsupported.contains(PLATFORM))
}

/// Whether a declaration is in force and why not.
struct Verdict {
    valid: bool,
    active: bool,
    reasons: Vec<Reason>,
}

impl Verdict {
    fn invalid(reason: Reason) -> Self {
        Verdict {
            valid: false,
            active: false,
            reasons: vec![reason],
        }
    }

    fn active() -> Self {
        Verdict {
            valid: true,
            active: true,
            reasons: Vec::new(),
        }
    }

    fn inactive(reason: Option<Reason>) -> Self {
        Verdict {
            valid: true,
            active: false,
            reasons: reason.into_iter().collect(),
        }
    }
}

impl DdmState {
    fn present(&self, category: Category, identifier: &str) -> bool {
        self.held.contains_key(&(category, identifier.to_owned()))
    }

    fn of(&self, category: Category) -> impl Iterator<Item = (&String, &Held)> {
        self.held
            .iter()
            .filter(move |((c, _), _)| *c == category)
            .map(|((_, id), h)| (id, h))
    }

    /// Every held declaration's verdict: activations first (they decide which configurations
    /// are active), then configurations (which decide which assets are), then the rest.
    fn verdicts(&self) -> BTreeMap<(Category, String), Verdict> {
        let mut out = BTreeMap::new();
        let (mut referenced, mut activated) = (BTreeSet::new(), BTreeSet::new());
        for (id, h) in self.of(Category::Activation) {
            let wanted = strings(h.payload.get("StandardConfigurations"));
            referenced.extend(wanted.iter().cloned());
            let missing: Vec<&str> = wanted
                .iter()
                .filter(|c| !self.present(Category::Configuration, c))
                .map(String::as_str)
                .collect();
            let verdict = match (&h.problem, h.declaration_type.as_str()) {
                (Some(p), _) => Verdict::invalid(p.clone()),
                _ if !missing.is_empty() => Verdict::invalid(Reason {
                    code: "Error.MissingConfigurations",
                    description: format!("configurations not in the set: {}", missing.join(", ")),
                }),
                // The predicate is not evaluated: a simulated device matches every one.
                (None, SIMPLE_ACTIVATION) => {
                    activated.extend(wanted);
                    Verdict::active()
                }
                (None, _) => Verdict::inactive(None),
            };
            out.insert((Category::Activation, id.clone()), verdict);
        }
        let mut used_assets = BTreeSet::new();
        for (id, h) in self.of(Category::Configuration) {
            let assets = asset_references(&h.payload);
            let missing: Vec<&str> = assets
                .iter()
                .filter(|a| !self.present(Category::Asset, a))
                .map(String::as_str)
                .collect();
            let verdict = if let Some(p) = &h.problem {
                Verdict::invalid(p.clone())
            } else if !missing.is_empty() {
                Verdict::invalid(Reason {
                    code: "Error.MissingAssets",
                    description: format!("assets not in the set: {}", missing.join(", ")),
                })
            } else if activated.contains(id) {
                used_assets.extend(assets);
                Verdict::active()
            } else if referenced.contains(id) {
                Verdict::inactive(Some(Reason {
                    code: "Error.ActivationFailed",
                    description: "every activation naming it failed".into(),
                }))
            } else {
                Verdict::inactive(Some(Reason {
                    code: "Info.NotReferencedByActivation",
                    description: "no activation names it".into(),
                }))
            };
            out.insert((Category::Configuration, id.clone()), verdict);
        }
        for category in [Category::Asset, Category::Management] {
            for (id, h) in self.of(category) {
                let verdict = match &h.problem {
                    Some(p) => Verdict::invalid(p.clone()),
                    None if category == Category::Asset && !used_assets.contains(id) => Verdict::inactive(None),
                    None => Verdict::active(),
                };
                out.insert((category, id.clone()), verdict);
            }
        }
        out
    }

    /// The full status report: every held declaration, the OS, software update and passcode.
    fn report(&self) -> Json {
        let verdicts = self.verdicts();
        let mut declarations = Map::new();
        for category in Category::ALL {
            declarations.insert(status_name(category).into(), Json::Array(Vec::new()));
        }
        for ((category, id), verdict) in &verdicts {
            let Some(h) = self.held.get(&(*category, id.clone())) else {
                continue;
            };
            let mut entry = json!({
                "identifier": id,
                "server-token": h.server_token,
                "active": verdict.active,
                "valid": if verdict.valid { "valid" } else { "invalid" },
            });
            if !verdict.reasons.is_empty() {
                entry["reasons"] = verdict
                    .reasons
                    .iter()
                    .map(|r| json!({"code": r.code, "description": r.description}))
                    .collect();
            }
            if let Some(Json::Array(list)) = declarations.get_mut(status_name(*category)) {
                list.push(entry);
            }
        }
        json!({
            "StatusItems": {
                "management": {"declarations": declarations},
                "device": {"operating-system": {"version": OS_VERSION, "build-version": BUILD_VERSION}},
                "softwareupdate": self.software_update(&verdicts),
                // The simulated devices have a passcode that meets any policy.
                "passcode": {"is-compliant": true, "is-present": true},
            },
            "Errors": [],
            "FullReport": true,
        })
    }

    /// Downloading the newest OS an active enforcement asks for, when newer than the device's.
    fn software_update(&self, verdicts: &BTreeMap<(Category, String), Verdict>) -> Json {
        let target = self
            .of(Category::Configuration)
            .filter(|(id, h)| {
                h.declaration_type == SU_SPECIFIC
                    && verdicts
                        .get(&(Category::Configuration, (*id).clone()))
                        .is_some_and(|v| v.active)
            })
            .filter_map(|(_, h)| {
                let version = h.payload.get("TargetOSVersion")?.as_str()?;
                let build = h.payload.get("TargetBuildVersion").and_then(Json::as_str);
                newer(version, OS_VERSION).then_some((version, build))
            })
            .max_by(|a, b| version_key(a.0).cmp(&version_key(b.0)));
        match target {
            Some((version, build)) => {
                let mut pending = json!({"os-version": version});
                if let Some(build) = build {
                    pending["build-version"] = build.into();
                }
                json!({"install-state": "downloading", "pending-version": pending})
            }
            None => json!({"install-state": "none"}),
        }
    }
}

/// The strings of a JSON array (anything else: none).
fn strings(value: Option<&Json>) -> Vec<String> {
    value
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The assets a payload names: Apple calls those keys `…AssetReference` (one identifier) and
/// `…AssetReferences` (a list), at any depth.
fn asset_references(payload: &Json) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![payload];
    while let Some(value) = stack.pop() {
        match value {
            Json::Object(map) => {
                for (key, v) in map {
                    if key.ends_with("AssetReference") {
                        out.extend(v.as_str().map(str::to_owned));
                    } else if key.ends_with("AssetReferences") {
                        out.extend(strings(Some(v)));
                    } else {
                        stack.push(v);
                    }
                }
            }
            Json::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// `18.2` → [18, 2]; a part that is not a number counts as 0.
fn version_key(version: &str) -> Vec<u64> {
    let mut key: Vec<u64> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    while key.last() == Some(&0) {
        key.pop();
    }
    key
}

fn newer(version: &str, than: &str) -> bool {
    version_key(version) > version_key(than)
}

#[cfg(test)]
#[path = "ddm_tests.rs"]
mod tests;
