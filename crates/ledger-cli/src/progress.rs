//! Progress bars for long commands: drawn on a terminal's standard error, hidden in pipes.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` units of `unit` (e.g. "events"), with rate and ETA.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(8));
    let template =
        format!("{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {unit} {{rate}} ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        // Whole units a second with thousands separators (`{per_sec}` shows four decimals).
        let rate = |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
            let _ignored = write!(out, "{}/s", indicatif::HumanCount(state.per_sec().round() as u64));
        };
        bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    }
    bar
}

/// Units per second since `started`.
pub fn rate(count: u64, started: std::time::Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// Tells the operator on standard error what a writer's open converts, as it goes: one line as a
/// conversion starts and one per table as it ends (also in pipes), a bar meanwhile (terminals).
#[derive(Debug, Default)]
pub struct OpenProgress {
    state: std::sync::Mutex<OpenState>,
}

#[derive(Debug, Default)]
struct OpenState {
    announced: bool,
    /// The table being copied: its bar and when it started.
    table: Option<(ProgressBar, std::time::Instant)>,
}

impl ledger_store::OpenObserver for OpenProgress {
    fn open_work(&self, work: &ledger_store::OpenWork) {
        let Ok(mut state) = self.state.lock() else { return };
        let ledger_store::OpenWork::CopyingProjected { table: name, done, estimated, finished } = work else {
            return;
        };
        if !std::mem::replace(&mut state.announced, true) {
            crate::out::noteln!(
                "converting the ledger to layout 5 (once: its read models and indexes move to projected/, docs/FORMAT.md)"
            );
        }
        if *finished {
            let seconds = state.table.take().map_or(0.0, |(bar, started)| {
                bar.finish_and_clear();
                started.elapsed().as_secs_f64()
            });
            crate::out::noteln!("  {name}: {} keys copied in {seconds:.1} s", indicatif::HumanCount(*done));
            return;
        }
        let (bar, _) = state.table.get_or_insert_with(|| {
            let bar =
                if *estimated > 0 { self::bar(*estimated, &format!("{name} keys")) } else { ProgressBar::hidden() };
            (bar, std::time::Instant::now())
        });
        bar.set_position(*done);
    }
}
