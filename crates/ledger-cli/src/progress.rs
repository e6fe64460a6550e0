//! Progress bars for long commands: drawn on a terminal's standard error, hidden in pipes.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` units of `unit` (e.g. "events"), with rate and ETA.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(8));
    let template =
        format!("{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {unit} {{per_sec}} ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Units per second since `started`.
pub fn rate(count: u64, started: std::time::Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64().max(1e-9)
}
