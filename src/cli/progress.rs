//! Progress bars for long CLI work over the log (on stderr; hidden for `--json`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` events, labelled with what is being done.
pub fn events_bar(total: u64, doing: &str, hidden: bool) -> ProgressBar {
    bar(
        total,
        &format!("{doing} {{bar:40}} {{pos}}/{{len}} events ({{per_sec}}, {{eta}})"),
        hidden,
    )
}

/// A bar over `total` bytes of a file, labelled with what is being done.
pub fn bytes_bar(total: u64, doing: &str, hidden: bool) -> ProgressBar {
    bar(
        total,
        &format!("{doing} {{bar:40}} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, {{eta}})"),
        hidden,
    )
}

fn bar(total: u64, template: &str, hidden: bool) -> ProgressBar {
    let bar = ProgressBar::new(total)
        .with_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    if hidden {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

/// A bar over `total` things (`unit`), or a spinner while their number is unknown (`total` 0).
pub fn items_bar(total: u64, doing: &str, unit: &str, hidden: bool) -> ProgressBar {
    if total == 0 {
        let spinner = bar(0, &format!("{doing} {{spinner}} {{elapsed}}"), hidden);
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        return spinner;
    }
    bar(
        total,
        &format!("{doing} {{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}})"),
        hidden,
    )
}
