//! `annal devices tag | untag | tags`: the admin tags group filters match on, as admin API
//! requests (pure builders) and their run.

use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;

use super::client::{Api, ApiRequest};
use super::query::encode;
use super::table;

fn tag_path(id: &str, tag: &str) -> String {
    format!("/v1/devices/{}/tags/{}", encode(id), encode(tag))
}

fn with_reason(request: ApiRequest, reason: Option<&str>) -> ApiRequest {
    match reason {
        Some(r) => request.header("X-Annal-Reason", r.to_string()),
        None => request,
    }
}

pub fn tag_request(id: &str, tag: &str, reason: Option<&str>) -> ApiRequest {
    let request = ApiRequest {
        method: Method::PUT,
        ..ApiRequest::get(tag_path(id, tag))
    };
    with_reason(request, reason)
}

pub fn untag_request(id: &str, tag: &str, reason: Option<&str>) -> ApiRequest {
    let request = ApiRequest {
        method: Method::DELETE,
        ..ApiRequest::get(tag_path(id, tag))
    };
    with_reason(request, reason)
}

pub fn tags_request(id: &str) -> ApiRequest {
    ApiRequest::get(format!("/v1/devices/{}/tags", encode(id)))
}

pub async fn tag(api: &Api, id: &str, tags: &[String], reason: Option<&str>) -> anyhow::Result<ExitCode> {
    for tag in tags {
        let (_, answer) = api.json(&tag_request(id, tag, reason)).await?;
        let changed = answer.get("changed").and_then(Value::as_bool) == Some(true);
        eprintln!(
            "{}: {} {}",
            table::clean(id),
            table::clean(tag),
            if changed { "tagged" } else { "already tagged" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn untag(api: &Api, id: &str, tags: &[String], reason: Option<&str>) -> anyhow::Result<ExitCode> {
    for tag in tags {
        api.send(&untag_request(id, tag, reason)).await?;
        eprintln!("{}: {} removed", table::clean(id), table::clean(tag));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show(api: &Api, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (_, answer) = api.json(&tags_request(id)).await?;
    if json {
        table::emit_json(&answer)?;
    } else {
        for tag in answer.get("tags").and_then(Value::as_array).into_iter().flatten() {
            println!("{}", table::text(Some(tag)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_path_segments_and_reasons_headers() {
        let req = tag_request("UDID 1", "site:b2", Some("moved"));
        assert_eq!(req.method, Method::PUT);
        assert_eq!(req.path, "/v1/devices/UDID%201/tags/site%3Ab2");
        assert_eq!(req.headers, vec![("X-Annal-Reason", "moved".to_string())]);
        let req = untag_request("A", "lab", None);
        assert_eq!(req.method, Method::DELETE);
        assert!(req.headers.is_empty());
        assert_eq!(tags_request("A").path, "/v1/devices/A/tags");
    }
}
