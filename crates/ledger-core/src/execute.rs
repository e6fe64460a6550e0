//! Driving a decision through what comes due first: [`decide_after_due`] with its
//! [`DueSink`], and [`execute`] over a bare state (the engine, replay tools and tests).

use crate::command::Command;
use crate::decide::{Admission, Decision, decide_in};
use crate::error::NotInView;
use crate::event::Event;
use crate::state::State;

/// Where the events that come due before a command go: the caller's log and state. See
/// [`decide_after_due`].
pub trait DueSink {
    /// A lookup outside a paged state's view ([`NotInView`]) is one of these errors.
    type Error: From<NotInView>;
    /// The state the next decision is made against (with every due event so far applied).
    fn state(&self) -> &State;
    /// Appends `event` (a hold that expired, a delayed transfer executed or stopped) and applies
    /// it to [`DueSink::state`].
    fn append_due(&mut self, event: Event) -> Result<(), Self::Error>;
}

/// The one driver of "due items, then the command", used by the engine, `execute` and the
/// tests: every reservation due by the command's time goes to `sink` in due order, then the
/// command's own decision (`Append` or `Retry`, never `Due`) is returned, not yet applied.
/// A decision that looked up anything a paged state does not hold fails with [`NotInView`]
/// instead: its answer would be wrong ("unknown account").
pub fn decide_after_due<S: DueSink>(
    sink: &mut S,
    command: &Command,
    admission: Admission,
) -> Result<Decision, S::Error> {
    loop {
        let decision = decide_in(sink.state(), command, admission);
        if let Some(missing) = sink.state().not_in_view() {
            return Err(missing.into());
        }
        match decision {
            Decision::Due(event) => sink.append_due(*event)?,
            decision => return Ok(decision),
        }
    }
}

/// A [`DueSink`] over a bare state, collecting the due events.
struct Applying<'a> {
    state: &'a mut State,
    due: &'a mut Vec<Event>,
}

impl DueSink for Applying<'_> {
    type Error = crate::error::Error;

    fn state(&self) -> &State {
        self.state
    }

    fn append_due(&mut self, event: Event) -> crate::error::Result<()> {
        self.state.apply(&event)?;
        self.due.push(event);
        Ok(())
    }
}

/// Decides `command` and applies the events to `state`: first any that came due, then the
/// answer. Returns the answer's decision.
pub fn execute(state: &mut State, command: &Command) -> crate::error::Result<Decision> {
    execute_with_due(state, command, &mut Vec::new())
}

/// [`decide_after_due`] on a bare state: applies every due event to `state` (collecting them in
/// `due`), then returns the command's decision, not yet applied.
pub fn apply_due_then_decide(
    state: &mut State,
    command: &Command,
    due: &mut Vec<Event>,
) -> crate::error::Result<Decision> {
    decide_after_due(&mut Applying { state, due }, command, Admission::default())
}

/// [`execute`], collecting the due events it applied into `due`.
pub fn execute_with_due(state: &mut State, command: &Command, due: &mut Vec<Event>) -> crate::error::Result<Decision> {
    let decision = apply_due_then_decide(state, command, due)?;
    if let Decision::Append(events) = &decision {
        for event in events {
            state.apply(event)?;
        }
    }
    Ok(decision)
}
