//! docs/RULES.md must show each preset exactly as the code defines it: the table under
//! "### Preset `NAME`" is rendered here from the Policy value and compared line by line.

use ledger_core::{AccountClass, Amount, Flow, Permission, Policy};

fn money(amount: Option<Amount>) -> String {
    amount.map_or("—".to_owned(), |a| {
        let text = a.to_string();
        let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
        let mut grouped = String::new();
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        format!("{grouped}.{cents}")
    })
}

fn permission(p: Permission) -> &'static str {
    match p {
        Permission::Allowed => "yes",
        Permission::InPersonOnly => "in person only",
        Permission::Forbidden => "no",
    }
}

/// The markdown table for `policy`.
fn render(policy: &Policy) -> Vec<String> {
    let mut rows: Vec<(String, [String; 3])> = Vec::new();
    let each = |f: &dyn Fn(AccountClass) -> String| AccountClass::ALL.map(f);
    rows.push((
        "open accounts per customer".into(),
        each(&|c| policy.rules(c).max_open_accounts.map_or("no cap".into(), |n| n.to_string())),
    ));
    rows.push((
        "bound account".into(),
        each(&|c| {
            let b = policy.rules(c).binding;
            match (b.required, b.credit_card_allowed) {
                (false, _) => "—".into(),
                (true, false) => "Class I".into(),
                (true, true) => "Class I or credit card".into(),
            }
        }),
    ));
    rows.push(("card".into(), each(&|c| permission(policy.rules(c).card).into())));
    for flow in Flow::ALL {
        rows.push((format!("`{flow}`"), each(&|c| permission(policy.rules(c).permission(flow)).into())));
    }
    rows.push((
        "first inflow from the bound account".into(),
        each(&|c| if policy.rules(c).first_inflow_from_bound { "required".into() } else { "—".into() }),
    ));
    rows.push(("balance cap".into(), each(&|c| money(policy.rules(c).balance_cap))));
    let mut names: Vec<String> = Vec::new();
    for class in AccountClass::ALL {
        for bucket in &policy.rules(class).buckets {
            if !names.contains(&bucket.name) {
                names.push(bucket.name.clone());
            }
        }
    }
    for name in names {
        rows.push((
            format!("bucket `{name}`"),
            each(&|c| match policy.rules(c).buckets.iter().find(|b| b.name == name) {
                None => "—".into(),
                Some(b) => {
                    let flows: Vec<String> = b.flows.iter().map(|f| format!("`{f}`")).collect();
                    format!("{}: {}/day, {}/year", flows.join(" + "), money(b.day_cap), money(b.year_cap))
                }
            }),
        ));
    }
    let mut lines = vec!["| rule | Class I | Class II | Class III |".to_owned(), "|---|---|---|---|".to_owned()];
    for (rule, [i, ii, iii]) in rows {
        lines.push(format!("| {rule} | {i} | {ii} | {iii} |"));
    }
    lines
}

#[test]
fn rules_md_tables_match_the_presets() {
    let doc = include_str!("../../../docs/RULES.md");
    for name in Policy::preset_names() {
        let policy = Policy::preset(name).unwrap();
        let expected = render(&policy);
        let heading = format!("### Preset `{name}`");
        let section = doc.split(&heading).nth(1).unwrap_or_else(|| panic!("docs/RULES.md has no heading {heading}"));
        let found: Vec<&str> =
            section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).collect();
        assert_eq!(
            found,
            expected,
            "docs/RULES.md table for {name} differs from the code; expected:\n{}",
            expected.join("\n")
        );
    }
}

#[test]
fn the_renderer_notices_a_changed_figure() {
    let mut policy = Policy::preset("pboc-2018").unwrap();
    let before = render(&policy);
    policy.class.class_iii.buckets[1].day_cap = Some(Amount::from_yuan(2001).unwrap());
    assert_ne!(render(&policy), before);
}
