//! Every problem the server would meet before serving, found without starting it (for `annal
//! config check`): values that do not parse, options that go together, files that must be
//! readable, private and belong together.

use crate::config::ServerConfig;

use super::chain;

pub fn problems(config: &ServerConfig) -> Vec<String> {
    let nats = match config.nats.config() {
        Ok(Some(nats)) => problem(crate::stream::nats::check(&nats)),
        Ok(None) => None,
        Err(e) => problem::<(), _>(Err(e)),
    };
    let mut problems: Vec<String> = [
        problem(config.store_url()),
        problem(config.relations()),
        problem(config.push.settings()),
        problem(config.webhook.config()),
        nats,
        problem(config.enroll.challenge()),
        problem(config.check_key_files()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(path) = &config.external_ca {
        if let Err(e) = crate::pki::TrustAnchors::from_pem_file(path) {
            problems.push(format!("external_ca {}: {e}", path.display()));
        }
    }
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        problems.extend(problem(super::tls::check_pair(cert, key)));
    }
    if let Some(path) = &config.data_key_file {
        if !path.exists() {
            problems.push(format!(
                "data_key_file {} does not exist (serve creates it only for an empty log)",
                path.display()
            ));
        }
    }
    problems
}

fn problem<T, E: std::error::Error + 'static>(result: Result<T, E>) -> Option<String> {
    result.err().map(|e| chain(&e))
}
