//! Progress bars for long CLI work over the log (on stderr; hidden for `--json`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` events, labelled with what is being done.
pub fn events_bar(total: u64, doing: &str, hidden: bool) -> ProgressBar {
    let template = format!("{doing} {{bar:40}} {{pos}}/{{len}} events ({{per_sec}}, {{eta}})");
    let bar = ProgressBar::new(total)
        .with_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    if hidden {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}
