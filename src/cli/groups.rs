//! `annal groups list | show | set | delete`: named device groups (admin API), which
//! `annal enqueue --group` sends commands to. `show` lists the devices the group means now.

use std::path::Path;
use std::process::ExitCode;

use hyper::Method;
use serde_json::{json, Map, Value};

use super::client::{Api, ApiArgs, ApiRequest};
use super::query::encode;
use super::table;

/// Device groups (admin API): list, show one with the devices it means now, define or
/// replace one, delete one. Defining needs the admin or operator role.
///
/// A group is a fixed list of devices (--members) or a filter evaluated each time it is used
/// (--model, --os-version, --last-seen-before/-after, --tag); times may be relative ("30d":
/// thirty days before the group is used) or RFC 3339.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct GroupsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: GroupsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum GroupsCommand {
    /// Every group and its definition.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One group and the devices it means now.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Define a group, or replace its definition.
    Set(SetArgs),
    /// Delete a group (commands already sent to it keep their recorded devices).
    Delete {
        name: String,
        /// Why, kept in the log.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("definition").required(true).multiple(true)
    .args(["members", "model", "os_version", "last_seen_before", "last_seen_after", "tags"])))]
pub struct SetArgs {
    pub name: String,
    /// A fixed list of device keys (comma-separated, repeatable).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["model", "os_version", "last_seen_before", "last_seen_after", "tags"])]
    pub members: Vec<String>,
    /// Model, model name or product name containing this text (any case).
    #[arg(long)]
    pub model: Option<String>,
    /// OS version starting with this (17 matches 17.4.1).
    #[arg(long)]
    pub os_version: Option<String>,
    /// Last seen before this: 30d, 12h, 2w or an RFC 3339 time.
    #[arg(long)]
    pub last_seen_before: Option<String>,
    /// Last seen at or after this: 30d, 12h, 2w or an RFC 3339 time.
    #[arg(long)]
    pub last_seen_after: Option<String>,
    /// A tag the devices carry (repeatable: all of them).
    #[arg(long = "tag", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Why, kept in the log.
    #[arg(long)]
    pub reason: Option<String>,
}

fn group_path(name: &str) -> String {
    format!("/v1/groups/{}", encode(name))
}

pub fn set_request(args: &SetArgs) -> ApiRequest {
    let mut body = Map::new();
    if args.members.is_empty() {
        let mut filter = Map::new();
        let fields = [
            ("model", &args.model),
            ("os_version", &args.os_version),
            ("last_seen_before", &args.last_seen_before),
            ("last_seen_after", &args.last_seen_after),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                filter.insert(k.into(), Value::String(v.clone()));
            }
        }
        if !args.tags.is_empty() {
            filter.insert("tags".into(), json!(args.tags));
        }
        body.insert("filter".into(), Value::Object(filter));
    } else {
        body.insert("members".into(), json!(args.members));
    }
    if let Some(reason) = &args.reason {
        body.insert("reason".into(), Value::String(reason.clone()));
    }
    ApiRequest {
        method: Method::PUT,
        body: Some(Value::Object(body)),
        ..ApiRequest::get(group_path(&args.name))
    }
}

pub fn show_request(name: &str) -> ApiRequest {
    ApiRequest::get(group_path(name))
}

pub fn delete_request(name: &str, reason: Option<&str>) -> ApiRequest {
    let request = ApiRequest {
        method: Method::DELETE,
        ..ApiRequest::get(group_path(name))
    };
    match reason {
        Some(r) => request.header("X-Annal-Reason", r.to_string()),
        None => request,
    }
}

/// A definition in one line: the listed devices' count, or the filter's fields.
pub fn describe(definition: &Value) -> String {
    if let Some(Value::Array(ids)) = definition.get("members") {
        return format!("{} listed devices", ids.len());
    }
    match definition.get("filter") {
        Some(Value::Object(f)) => f
            .iter()
            .map(|(k, v)| match v {
                Value::Array(items) => format!(
                    "{k}={}",
                    items.iter().map(|i| table::text(Some(i))).collect::<Vec<_>>().join(",")
                ),
                v => format!("{k}={}", table::text(Some(v))),
            })
            .map(|s| table::clean(&s))
            .collect::<Vec<_>>()
            .join(" "),
        _ => "-".into(),
    }
}

/// The enrollments a `GET /v1/groups/{name}` answer resolved to.
pub fn resolved(answer: &Value) -> Vec<String> {
    answer
        .pointer("/resolved/enrollments")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

pub async fn run(data_dir: &Path, args: GroupsArgs) -> anyhow::Result<ExitCode> {
    let api = Api::connect(data_dir, &args.api)?;
    match args.command {
        GroupsCommand::List { json } => {
            let (_, answer) = api.json(&ApiRequest::get("/v1/groups".into())).await?;
            if json {
                table::emit_json(&answer)?;
            } else {
                let groups = answer
                    .get("groups")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let rows: Vec<Vec<String>> = groups
                    .iter()
                    .map(|g| {
                        vec![
                            table::field(g, "name"),
                            describe(g.get("definition").unwrap_or(&Value::Null)),
                        ]
                    })
                    .collect();
                table::emit(&table::render(&["GROUP", "DEFINITION"], &rows))?;
            }
        }
        GroupsCommand::Show { name, json } => {
            let (_, answer) = api.json(&show_request(&name)).await?;
            if json {
                table::emit_json(&answer)?;
            } else {
                let ids = resolved(&answer);
                let rows: Vec<Vec<String>> = ids.iter().map(|id| vec![table::clean(id)]).collect();
                table::emit(&table::render(&["ENROLLMENT"], &rows))?;
                eprintln!(
                    "group {}: {}; {} devices now",
                    table::clean(&name),
                    describe(answer.get("definition").unwrap_or(&Value::Null)),
                    ids.len()
                );
            }
        }
        GroupsCommand::Set(set) => {
            let (_, answer) = api.json(&set_request(&set)).await?;
            table::emit_json(&answer)?;
        }
        GroupsCommand::Delete { name, reason } => {
            api.send(&delete_request(&name, reason.as_deref())).await?;
            eprintln!("group {} deleted", table::clean(&name));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(subcommand)]
        command: GroupsCommand,
    }

    fn set(args: &[&str]) -> Result<SetArgs, clap::Error> {
        let wrap = Wrap::try_parse_from(["groups", "set"].iter().chain(args.iter()).copied())?;
        match wrap.command {
            GroupsCommand::Set(s) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_filter_group_sends_only_the_fields_given() {
        let a = set(&[
            "lab-ipads",
            "--model",
            "iPad",
            "--tag",
            "lab,b2",
            "--last-seen-after",
            "30d",
        ])
        .unwrap();
        let req = set_request(&a);
        assert_eq!(req.method, Method::PUT);
        assert_eq!(req.path, "/v1/groups/lab-ipads");
        assert_eq!(
            req.body.unwrap(),
            json!({"filter": {"model": "iPad", "last_seen_after": "30d", "tags": ["lab", "b2"]}})
        );
    }

    #[test]
    fn a_static_group_lists_its_members_and_takes_no_filter() {
        let a = set(&["kiosks", "--members", "A,B", "--members", "C", "--reason", "INC-7"]).unwrap();
        assert_eq!(
            set_request(&a).body.unwrap(),
            json!({"members": ["A", "B", "C"], "reason": "INC-7"})
        );
        assert!(set(&["kiosks", "--members", "A", "--model", "iPad"]).is_err());
        assert!(set(&["kiosks"]).is_err(), "a group needs a definition");
    }

    #[test]
    fn names_are_encoded_and_a_delete_carries_its_reason() {
        let req = delete_request("a/b", Some("gone"));
        assert_eq!(req.method, Method::DELETE);
        assert_eq!(req.path, "/v1/groups/a%2Fb");
        assert_eq!(req.headers, vec![("X-Annal-Reason", "gone".to_string())]);
        assert_eq!(
            describe(&json!({"filter": {"model": "iPad", "tags": ["lab"]}})),
            "model=iPad tags=lab"
        );
        assert_eq!(describe(&json!({"members": ["A", "B"]})), "2 listed devices");
        assert_eq!(resolved(&json!({"resolved": {"enrollments": ["A"]}})), ["A"]);
    }
}
