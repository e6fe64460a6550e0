//! The thresholds of the regulatory reports: policy data citing their sources (shipped presets
//! in `reports/*.toml`, or a bank's file in the same shape), read and checked here; the
//! aggregation that applies them is `report`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::money::Amount;
use crate::policy::Flow;
use crate::reject::RejectReason;

const PRESETS: [(&str, &str); 1] = [("pboc-2016-3", include_str!("../reports/pboc-2016-3.toml"))];

/// The thresholds of the regulatory reports, as data: each cites its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRules {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Large-value cash (大额现金交易).
    pub large_cash: DayThreshold,
    /// Large-value domestic transfers (大额境内款项划转).
    pub large_transfer: DayThreshold,
    /// Class III inflows that call for an identity review.
    pub class_iii_review: WindowThreshold,
    pub limit_hits: LimitHitRule,
    /// How the readings the regulation leaves open are taken (docs/RULES.md); absent: today's.
    #[serde(default)]
    pub readings: Readings,
}

/// The readings the regulation leaves open that are not a list of flows. (Whether merchant
/// payments or wealth products count as transfers is `large_transfer.flows`: `payment`,
/// `wealth_purchase`, `wealth_redemption`.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    pub own_account_transfers: OwnAccountTransfers,
}

/// A transfer between two accounts of one customer, in the large-value transfer report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnAccountTransfers {
    /// Counted on both sides, each in its direction (money left one account and entered another).
    #[default]
    BothSides,
    /// Not counted: the customer's funds did not leave the customer.
    Excluded,
}

/// A per-customer, per-Beijing-day, per-direction cumulative threshold (inclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayThreshold {
    pub threshold: Amount,
    pub flows: Vec<Flow>,
    pub source: String,
}

/// A per-customer threshold over a window of Beijing days (inclusive), on Class III accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowThreshold {
    pub threshold: Amount,
    /// The day of the transaction and the `window_days - 1` days before it.
    pub window_days: u16,
    pub flows: Vec<Flow>,
    pub source: String,
}

/// Which rejections the limit-hit report lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitHitRule {
    pub codes: Vec<String>,
}

impl ReportRules {
    /// The names of the shipped presets.
    pub fn preset_names() -> impl Iterator<Item = &'static str> {
        PRESETS.iter().map(|(name, _)| *name)
    }

    /// A shipped preset by name (`pboc-2016-3`).
    pub fn preset(name: &str) -> Result<ReportRules> {
        let (_, text) = PRESETS
            .iter()
            .find(|(preset, _)| *preset == name)
            .ok_or_else(|| Error::Policy(format!("unknown report rules \"{name}\" (known: pboc-2016-3)")))?;
        ReportRules::from_toml_str(text)
    }

    /// A bank's own thresholds file (TOML): parsed and validated as
    /// [`ReportRules::from_toml_str`], and refused when its name reads as a shipped preset's
    /// ([`name_key`]: case, spaces, punctuation, width and look-alike characters of other
    /// scripts aside) unless it is the preset, name and content: a report made with changed
    /// thresholds would be labelled as the preset. A copy of the preset (comments aside) is
    /// the preset.
    pub fn from_custom_toml_str(text: &str) -> Result<ReportRules> {
        let rules = ReportRules::from_toml_str(text)?;
        // "PBOC-2016-3", "pboc 2016 3", "ｐｂｏｃ-2016-3", "pboc-2016-𝟑" (a mathematical digit)
        // and "рboc-2016-3" (a Cyrillic р) all claim it.
        // A name holding a preset's ("pboc-2016-3 preset", "pboc-2016-3-copy") claims it too:
        // a report's header names the rules, and one read quickly or cut short would pass for
        // the preset's.
        let key = name_key(&rules.name);
        let claimed = ReportRules::preset_names().find(|name| key.contains(&name_key(name)));
        let Some(preset) = claimed else {
            return Ok(rules);
        };
        if ReportRules::preset(preset)? == rules {
            return Ok(rules);
        }
        if key != name_key(preset) {
            return Err(Error::Policy(format!(
                "it is named \"{}\", which holds the name of the shipped preset \"{preset}\" (case, spaces, \
                 punctuation, width and look-alike letters or digits of other scripts aside): a report's header \
                 could be read as the preset's; give it a name of its own (reports are labelled with it)",
                rules.name
            )));
        }
        if rules.name == preset {
            return Err(Error::Policy(format!(
                "it is named \"{}\", the name of the shipped preset \"{preset}\", but its content differs from the \
                 preset's: give it a name of its own (reports are labelled with it)",
                rules.name
            )));
        }
        let foreign: Vec<String> =
            rules.name.chars().filter(|c| !c.is_ascii()).map(|c| format!("U+{:04X}", u32::from(c))).collect();
        let foreign =
            if foreign.is_empty() { String::new() } else { format!("; not ASCII in it: {}", foreign.join(" ")) };
        Err(Error::Policy(format!(
            "it is named \"{}\", which reads as the name of the shipped preset \"{preset}\" (case, spaces, punctuation, \
             width and look-alike letters or digits of other scripts aside{foreign}) but is not the preset: give it \
             a name of its own (reports are labelled with it)",
            rules.name
        )))
    }

    /// The most characters a rules file's name may have (it heads every report made with it).
    pub const NAME_CHARS_MAX: usize = 64;

    /// Parses and validates report rules written in TOML.
    pub fn from_toml_str(text: &str) -> Result<ReportRules> {
        let rules: ReportRules = toml::from_str(text).map_err(|err| Error::Policy(err.to_string()))?;
        rules.validate()?;
        Ok(rules)
    }

    /// Checks what serde cannot: thresholds above zero, flows listed, sources cited, a window of
    /// 1 to 366 days, known reason codes.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Policy(format!("report rules \"{}\": {what}", self.name)));
        // The name heads every report made with the rules: something to read, on one line.
        // Blank: spaces and invisible characters only (the Hangul and braille fillers too).
        if self.name.chars().all(invisible)
            || self.name.chars().count() > ReportRules::NAME_CHARS_MAX
            || self.name.chars().any(|c| c.is_control() || matches!(c, '\u{061c}' | '\u{115f}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}'))
        {
            return bad(format!(
                "name: 1 to {} characters, neither blank nor holding control or direction characters",
                ReportRules::NAME_CHARS_MAX
            ));
        }
        let day_rules = [("large_cash", &self.large_cash), ("large_transfer", &self.large_transfer)];
        let thresholds =
            day_rules.iter().map(|(name, rule)| (*name, rule.threshold, &rule.flows, &rule.source)).chain([(
                "class_iii_review",
                self.class_iii_review.threshold,
                &self.class_iii_review.flows,
                &self.class_iii_review.source,
            )]);
        for (name, threshold, flows, source) in thresholds {
            if threshold.is_zero() {
                return bad(format!("{name}: the threshold is zero"));
            }
            if flows.is_empty() {
                return bad(format!("{name}: no flows listed"));
            }
            // Only spaces and invisible characters (zero-width, direction controls) cite nothing.
            if source.chars().all(invisible) {
                return bad(format!("{name}: no source cited (nothing visible in it)"));
            }
        }
        if !(1..=366).contains(&self.class_iii_review.window_days) {
            return bad("class_iii_review: window_days must be 1 to 366".into());
        }
        if self.limit_hits.codes.is_empty() {
            return bad("limit_hits.codes: no reason code listed (the limit-hit report would list nothing)".into());
        }
        if let Some(code) = self.limit_hits.codes.iter().find(|code| !RejectReason::CODES.contains(&code.as_str())) {
            return bad(format!("limit_hits: unknown reason code \"{code}\""));
        }
        Ok(())
    }
}

/// Whether `c` shows nothing: white space, a control character, or a default-ignorable code
/// point (Unicode's `Default_Ignorable_Code_Point`: zero-width characters, direction controls,
/// the byte-order mark, fillers and variation selectors).
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fff8}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// A name as compared with the presets': NFKC (full-width forms, mathematical digits folded),
/// then its Unicode confusable skeleton (UTS #39: a Cyrillic `р` reads as a Latin `p`, a capital
/// `I` as `1`) in lower case, and its ASCII letters and digits only (spaces, hyphens of any kind, underscores left
/// out), each run of digits without its leading zeros (`pboc-2016-03` reads as `pboc-2016-3`).
fn name_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let skeleton_lower =
        |text: &str| -> String { unicode_security::skeleton(text).flat_map(char::to_lowercase).collect() };
    // Twice: a capital with no look-alike of its own may have one in lower case (`Б`, `б`, `6`).
    let folded: String = name.nfkc().collect();
    // Leading zeros dropped before the skeleton, which reads a `0` as an `o`.
    let mut unpadded = String::with_capacity(folded.len());
    let mut chars = folded.chars().peekable();
    while let Some(c) = chars.next() {
        let starts_run = c == '0' && !unpadded.ends_with(|c: char| c.is_ascii_digit());
        if starts_run && chars.peek().is_some_and(char::is_ascii_digit) {
            continue;
        }
        unpadded.push(c);
    }
    skeleton_lower(&skeleton_lower(&unpadded)).chars().filter(char::is_ascii_alphanumeric).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preset_parses_and_cites_its_sources() {
        for name in ReportRules::preset_names() {
            let rules = ReportRules::preset(name).unwrap();
            assert_eq!(rules.name, name);
            assert!(rules.large_cash.source.contains("2016"));
        }
        assert!(ReportRules::preset("nope").is_err());
    }

    #[test]
    fn invalid_rules_are_refused_with_a_reason() {
        let base = ReportRules::preset("pboc-2016-3").unwrap();
        let mut zero = base.clone();
        zero.large_cash.threshold = Amount::ZERO;
        let mut no_flows = base.clone();
        no_flows.large_transfer.flows.clear();
        let mut no_source = base.clone();
        no_source.class_iii_review.source = " ".into();
        // Only invisible characters (an outside tester's file passed): cites nothing either.
        let mut invisible_source = base.clone();
        invisible_source.large_cash.source = "\u{200b}\u{202e}\u{2066} \u{feff}\u{3000}".into();
        let mut no_window = base.clone();
        no_window.class_iii_review.window_days = 0;
        let mut bad_code = base.clone();
        bad_code.limit_hits.codes.push("NOT_A_CODE".into());
        // A limit-hit report that could never list anything (an outside tester's file).
        let mut no_codes = base.clone();
        no_codes.limit_hits.codes.clear();
        // (what, the rules, the refusal names)
        let rows = [
            ("zero threshold", zero, "large_cash: the threshold is zero"),
            ("no flows", no_flows, "large_transfer: no flows listed"),
            ("no source", no_source, "class_iii_review: no source cited"),
            ("an invisible source", invisible_source, "large_cash: no source cited"),
            ("no window", no_window, "class_iii_review: window_days"),
            ("an unknown code", bad_code, "limit_hits: unknown reason code"),
            ("no codes", no_codes, "limit_hits.codes: no reason code listed"),
        ];
        for (what, bad, names) in rows {
            let got = bad.validate();
            assert!(matches!(&got, Err(Error::Policy(why)) if why.contains(names)), "{what}: {got:?}");
        }
        assert!(ReportRules::from_toml_str("name = \"x\"\nunknown = 1").is_err());
        let preset = include_str!("../reports/pboc-2016-3.toml");
        let empty_codes = preset.lines().map(|line| if line.starts_with("codes") { "codes = []" } else { line });
        let empty_codes = empty_codes.collect::<Vec<_>>().join("\n").replace("\"pboc-2016-3\"", "\"bank-2026\"");
        let got = ReportRules::from_custom_toml_str(&empty_codes);
        assert!(matches!(&got, Err(Error::Policy(why)) if why.contains("limit_hits.codes")), "{got:?}");
    }

    #[test]
    fn a_custom_file_may_carry_a_presets_name_only_with_the_presets_content() {
        let preset = include_str!("../reports/pboc-2016-3.toml");
        let lower =
            preset.replace("threshold = \"50000.00\"\nflows = [\"cash", "threshold = \"20000.00\"\nflows = [\"cash");
        assert_ne!(lower, preset);
        let renamed = |text: &str, name: &str| text.replace("name = \"pboc-2016-3\"", &format!("name = {name:?}"));
        // (what the file holds, accepted with the name it gives)
        let rows: [(&str, String, Option<&str>); 29] = [
            ("the preset copied", preset.to_owned(), Some("pboc-2016-3")),
            ("the preset copied, comments dropped", preset.replace("# The rejections", "# -"), Some("pboc-2016-3")),
            ("lower cash threshold, the preset's name", lower.clone(), None),
            ("lower cash threshold, the name in capitals", renamed(&lower, "PBOC-2016-3"), None),
            ("lower cash threshold, the name padded", renamed(&lower, " pboc-2016-3 "), None),
            ("lower cash threshold, a name of its own", renamed(&lower, "bank-2026"), Some("bank-2026")),
            ("lower cash threshold, U+2010 hyphens", renamed(&lower, "pboc\u{2010}2016\u{2010}3"), None),
            ("lower cash threshold, full-width letters", renamed(&lower, "ｐｂｏｃ-2016-3"), None),
            ("lower cash threshold, spaces", renamed(&lower, "pboc 2016 3"), None),
            ("lower cash threshold, underscores", renamed(&lower, "pboc_2016_3"), None),
            // Look-alikes from other scripts (UTS #39 skeletons): an outside tester's names.
            ("lower cash threshold, a mathematical digit 3", renamed(&lower, "pboc-2016-\u{1d7d1}"), None),
            ("lower cash threshold, a Cyrillic р", renamed(&lower, "\u{440}boc-2016-3"), None),
            ("lower cash threshold, Greek ο and a capital I for 1", renamed(&lower, "pb\u{3bf}c-20I6-3"), None),
            ("the preset's content, a Cyrillic р", renamed(preset, "\u{440}boc-2016-3"), None),
            ("the preset's content, a mathematical digit 3", renamed(preset, "pboc-2016-\u{1d7d1}"), None),
            ("a name of its own in Cyrillic", renamed(&lower, "банк-2026"), Some("банк-2026")),
            // The preset's name and more: a header "pboc-2016-3 preset" passes for the preset's.
            ("the preset's name and a word", renamed(&lower, "pboc-2016-3 preset"), None),
            ("the preset's name and a suffix", renamed(&lower, "pboc-2016-3-copy"), None),
            ("the preset's content, its name and a suffix", renamed(preset, "pboc-2016-3-copy"), None),
            ("a name of its own, a year like the preset's", renamed(&lower, "bank-2016-3"), Some("bank-2016-3")),
            ("a blank name", renamed(&lower, " "), None),
            // An outside tester's: leading zeros, and names that look blank.
            ("lower cash threshold, a leading zero", renamed(&lower, "pboc-2016-03"), None),
            ("lower cash threshold, leading zeros in the year", renamed(&lower, "pboc-02016-3"), None),
            ("a name of braille blanks", renamed(&lower, "\u{2800}\u{2800}"), None),
            ("a name of Hangul fillers", renamed(&lower, "\u{3164}\u{ffa0}"), None),
            ("a name of its own with a zero", renamed(&lower, "bank-2026-01"), Some("bank-2026-01")),
            (
                "a name with an Arabic letter mark",
                lower.replace("name = \"pboc-2016-3\"", r#"name = "ab\u061cc""#),
                None,
            ),
            ("a name with a line separator", lower.replace("name = \"pboc-2016-3\"", r#"name = "ab\u2028c""#), None),
            ("a name with an escape", lower.replace("name = \"pboc-2016-3\"", r#"name = "bank\u001b[2J""#), None),
        ];
        for (what, text, accepted) in rows {
            let got = ReportRules::from_custom_toml_str(&text);
            assert_eq!(got.as_ref().ok().map(|rules| rules.name.as_str()), accepted, "{what}: {got:?}");
            if let Err(err) = got {
                let why = err.to_string();
                assert!(why.contains("name of its own") || why.contains("name: 1 to 64"), "{what}: {why}");
                // A look-alike name is shown with what is not ASCII in it, as code points.
                if what.contains("Cyrillic") {
                    assert!(why.contains("reads as the name") && why.contains("U+0440"), "{what}: {why}");
                }
            }
        }
    }
}
