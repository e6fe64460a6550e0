//! The clients that keep batches in flight (the writer decides one while another is written):
//! `benchmark --in-flight N` and `import` answer exactly as one batch at a time does.

mod common;

use common::{cli, json};

#[test]
fn benchmark_with_batches_in_flight_records_what_one_at_a_time_records() {
    let dir = tempfile::tempdir().unwrap();
    let unused = dir.path().join("unused");
    let run = |in_flight: &str| {
        let args = ["--json", "benchmark", "--accounts", "50", "--transfers", "20000", "--batch", "100"];
        let (code, out, err) = cli(&unused, &[&args[..], &["--in-flight", in_flight]].concat());
        assert_eq!(code, 0, "{out}{err}");
        json(&out)
    };
    let (one, four) = (run("1"), run("4"));
    assert_eq!((&one["in_flight"], &four["in_flight"]), (&1.into(), &4.into()));
    for field in ["accepted", "rejected_by_reason", "events"] {
        assert_eq!(four[field], one[field], "{field}");
    }
    println!("accepted {} of 20000, events {}, alike with 1 and 4 batches in flight", one["accepted"], one["events"]);
}

#[test]
fn an_import_with_a_batch_in_flight_answers_in_input_order_and_retries_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    assert_eq!(cli(&db, &["init", "--policy", "pboc-2018"]).0, 0);
    // Given: 2 accounts, then 60 deposits in batches of 7, each batch after the first repeating
    // the id of a line of the batch before (answered while that batch may still be written), and
    // a malformed line.
    let id = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
    let mut lines = Vec::new();
    for a in 1..=2 {
        lines.push(format!(
            r#"{{"type":"open_account","id":"{}","account":{a},"customer":{a},"class":"I","verified_in_person":true}}"#,
            id(a)
        ));
    }
    for n in 0..60u32 {
        let deposit =
            |n: u32| format!(r#"{{"type":"cash_deposit","id":"{}","account":1,"amount":"1.00"}}"#, id(100 + n));
        lines.push(deposit(n));
        if n % 7 == 6 && n > 7 {
            lines.push(deposit(n - 7));
        }
    }
    lines.push("{not json".into());
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let results = dir.path().join("results.jsonl");
    let (code, out, err) =
        cli(&db, &["import", input.to_str().unwrap(), "--results", results.to_str().unwrap(), "--batch", "7"]);
    // Then: one result per line, in input order; each repeated id answered as a duplicate.
    assert_eq!(code, 1, "the malformed line makes it exit 1: {out}{err}");
    let written = std::fs::read_to_string(&results).unwrap();
    let answers: Vec<serde_json::Value> = written.lines().map(json).collect();
    let numbers: Vec<u64> = answers.iter().map(|a| a["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (1..=lines.len() as u64).collect::<Vec<_>>(), "in input order");
    let repeats = lines.len() - 60 - 2 - 1;
    let duplicates = answers.iter().filter(|a| a["status"] == "duplicate").count();
    assert_eq!(duplicates, repeats, "every repeated id answered from its first answer");
    assert_eq!(answers.iter().filter(|a| a["status"] == "accepted").count(), 62);
    println!("{} lines: 62 accepted, {duplicates} duplicates, 1 malformed, in input order", lines.len());
}
