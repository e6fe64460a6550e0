//! A batch body of JSON commands (a JSON array or JSON Lines), read element by element with
//! [`parse_command`](crate::parse_command): the one strict reader every entry point shares (the
//! CLI's `submit` and `import`, the server's single and batch bodies, the library). An object
//! that names a key twice, at any depth (a `policy` inside `change_policy` included), is refused
//! there: serde_json would keep the last one silently.

use serde_json::value::RawValue;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::json::parse_command;
use crate::time::Timestamp;

/// One command of a batch body, with its line when the body is JSON Lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchElement {
    pub command: Command,
    /// The line it stood on in JSON Lines (from 1, blank lines counted); `None` in an array.
    pub line: Option<usize>,
}

/// Parses a batch body: a JSON array of commands (it starts with `[`), or JSON Lines (blank lines
/// skipped). Every element must parse, or the error names the first one that does not
/// ([`Error::Element`]); more than `len_max` commands is [`Error::BatchTooLong`]; none at all is
/// refused too. `default_at` fills a missing `at`.
pub fn parse_batch(text: &str, default_at: Timestamp, len_max: usize) -> Result<Vec<BatchElement>> {
    let elements: Vec<(Option<usize>, &str)> = if text.trim_start().starts_with('[') {
        let raw: Vec<&RawValue> =
            serde_json::from_str(text).map_err(|err| Error::Command(format!("the batch array: {err}")))?;
        raw.into_iter().map(|raw| (None, raw.get())).collect()
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(number, line)| (Some(number + 1), line.trim()))
            .collect()
    };
    if elements.len() > len_max {
        return Err(Error::BatchTooLong { len: elements.len(), max: len_max });
    }
    if elements.is_empty() {
        return Err(Error::Command("the batch holds no command".into()));
    }
    elements
        .into_iter()
        .enumerate()
        .map(|(index, (line, text))| {
            parse_command(text, default_at)
                .map(|command| BatchElement { command, line })
                .map_err(|error| Error::Element { index, line, error: Box::new(error) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-02T10:00:00+08:00".parse().unwrap()
    }

    const ID: &str = "6f1c2d3e-0000-4000-8000-000000000001";
    const ID2: &str = "6f1c2d3e-0000-4000-8000-000000000002";

    /// Given a command naming a key twice (at the top, in a nested object, in a policy's map),
    /// when it is read alone, in an array or in JSON Lines, then it is refused every time: the
    /// second value never wins.
    #[test]
    fn a_key_named_twice_is_refused_at_any_depth_by_every_form() {
        let table = [
            (
                "amount twice",
                format!(
                    r#"{{"type":"payment","id":"{ID}","from":1,"merchant":"M","amount":"1.00","amount":"9000.00"}}"#
                ),
            ),
            ("id twice", format!(r#"{{"type":"tick","id":"{ID}","id":"{ID2}"}}"#)),
            ("type twice", format!(r#"{{"type":"tick","type":"tick","id":"{ID}"}}"#)),
            (
                "nested window",
                format!(
                    r#"{{"type":"set_night_lock","id":"{ID}","account":1,"window":{{"start":"23:00","start":"01:00","end":"06:00"}}}}"#
                ),
            ),
            ("nested policy map", change_policy_with_flows(r#""payment":"forbidden","payment":"allowed""#)),
        ];
        for (what, text) in &table {
            let one = parse_command(text, now()).unwrap_err();
            assert!(one.to_string().contains("duplicate field"), "{what}: {one}");
            let array = parse_batch(&format!("[{text}]"), now(), 10).unwrap_err();
            assert!(
                matches!(&array, Error::Element { index: 0, line: None, error } if error.to_string().contains("duplicate field")),
                "{what}: {array}"
            );
            let lines = parse_batch(&format!("\n{text}\n"), now(), 10).unwrap_err();
            assert!(matches!(&lines, Error::Element { index: 0, line: Some(2), .. }), "{what}: {lines}");
        }
        // The same policy without the repeated key reads (the table's failures are the keys').
        parse_command(&change_policy_with_flows(r#""payment":"allowed""#), now()).unwrap();
    }

    fn change_policy_with_flows(flows: &str) -> String {
        let mut policy: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&crate::Policy::preset("pboc-2018").unwrap()).unwrap())
                .unwrap();
        policy["class"]["II"]["flows"] = serde_json::json!({ "FLOWS": 0 });
        let text = serde_json::to_string(&policy).unwrap().replace(r#""FLOWS":0"#, flows);
        format!(r#"{{"type":"change_policy","id":"{ID}","effective_from":"2026-06-01T00:00:00Z","policy":{text}}}"#)
    }

    /// Given batch bodies, when parsed, then the commands come back in order with their lines,
    /// and a refused element is named by its index (and line) with the one-command wording.
    #[test]
    fn a_batch_names_its_refused_element_by_index_and_line() {
        let tick = |id: &str| format!(r#"{{"type":"tick","id":"{id}"}}"#);
        let negative = format!(r#"{{"type":"payment","id":"{ID2}","from":1,"merchant":"M","amount":"-1"}}"#);
        let single = parse_command(&negative, now()).unwrap_err().to_string();
        assert!(single.starts_with("malformed command: "), "{single}");

        let array = parse_batch(&format!("[{}, {}]", tick(ID), tick(ID2)), now(), 2).unwrap();
        assert_eq!(array.iter().map(|element| element.line).collect::<Vec<_>>(), [None, None]);
        let lines = parse_batch(&format!("\n{}\n\n{}\n", tick(ID), tick(ID2)), now(), 2).unwrap();
        assert_eq!(lines.iter().map(|element| element.line).collect::<Vec<_>>(), [Some(2), Some(4)]);
        assert_eq!(lines[1].command.id.0.to_string(), ID2);

        // (body, index, line, the error's text)
        let table = [
            (format!("[{}, {negative}]", tick(ID)), 1, None, format!("command [1]: {single}")),
            (format!("\n{}\n\n{negative}\n", tick(ID)), 1, Some(4), format!("command [1] (line 4): {single}")),
            (format!("[{}, 7]", tick(ID)), 1, None, "command [1]: malformed command: invalid type".into()),
        ];
        for (body, want_index, want_line, words) in table {
            let err = parse_batch(&body, now(), 10).unwrap_err();
            assert!(
                matches!(err, Error::Element { index, line, .. } if index == want_index && line == want_line),
                "{err}"
            );
            assert!(err.to_string().starts_with(&words), "{err} / {words}");
        }
        assert_eq!(
            parse_batch(&format!("[{}, {}]", tick(ID), tick(ID2)), now(), 1),
            Err(Error::BatchTooLong { len: 2, max: 1 })
        );
        for empty in ["[]", "", "\n \n"] {
            assert!(parse_batch(empty, now(), 1).unwrap_err().to_string().contains("no command"), "{empty:?}");
        }
        assert!(parse_batch("[{", now(), 1).unwrap_err().to_string().contains("the batch array"));
    }
}
