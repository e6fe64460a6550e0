//! docs/FORMAT.md's type tables, tools/verify_export.py's schema and the Rust types cannot drift:
//! the Python verifier prints its schema (`--schema markdown`, `--schema wire`); the markdown
//! must be FORMAT.md's "Type tables" section byte for byte, and the wire form must be what serde
//! shows of the Rust types (traced by serde-reflection from `Event` down: every field in order,
//! every enum variant with its index). A variant or field added, moved or renamed in Rust fails
//! here until the Python table and FORMAT.md say the same.

#![expect(clippy::unwrap_used, clippy::panic, reason = "a failing step should stop the test where it fails")]

use std::path::Path;
use std::process::Command;

use ledger_core::{
    AccountClass, Actor, Arrival, Binding, BindingProblem, CommandBody, Event, EventBody, ExternalKind, Flow, Period,
    Permission, PersonalLimit, PostingKind, RejectReason, Release, Settlement, Stage,
};
use serde_reflection::{ContainerFormat, Format, Named, Registry, Samples, Tracer, TracerConfig, VariantFormat};

/// Rust names that differ from the schema's: `Policy` is written through its wire struct.
const RENAMED: [(&str, &str); 1] = [("PolicyWire", "Policy")];

/// Every type under `Event` as bincode sees it (not human-readable). Each enum is traced on its
/// own so that every variant is reached; an enum added under `Event` and not listed here makes
/// `registry()` fail with its name.
fn rust_registry() -> Registry {
    // A UUID deserializes from exactly 16 bytes.
    let config = TracerConfig::default()
        .is_human_readable(false)
        .default_borrowed_bytes_value(&[0; 16])
        .default_byte_buf_value(vec![0; 16]);
    let mut tracer = Tracer::new(config);
    let samples = Samples::new();
    macro_rules! trace {
        ($($ty:ty),*) => { $( tracer.trace_type::<$ty>(&samples).unwrap(); )* };
    }
    trace!(
        Event,
        EventBody,
        CommandBody,
        RejectReason,
        AccountClass,
        Actor,
        Arrival,
        Binding,
        BindingProblem,
        ExternalKind,
        Flow,
        Period,
        Permission,
        PersonalLimit,
        PostingKind,
        Release,
        Settlement,
        Stage
    );
    tracer.registry().unwrap_or_else(|err| panic!("an enum under Event is not traced here: {err:?}"))
}

fn name(rust: &str) -> String {
    RENAMED.iter().find(|(from, _)| *from == rust).map_or(rust, |(_, to)| to).to_owned()
}

fn format_text(format: &Format, registry: &Registry) -> String {
    match format {
        // A newtype struct (`BeijingDay`, `BeijingYear`) is its content in bincode.
        Format::TypeName(type_name) => match registry.get(type_name) {
            Some(ContainerFormat::NewTypeStruct(inner)) => format_text(inner, registry),
            _ => name(type_name),
        },
        Format::Bool => "bool".into(),
        Format::U16 => "u16".into(),
        Format::U32 => "u32".into(),
        Format::U64 => "u64".into(),
        Format::I16 => "i16".into(),
        Format::I32 => "i32".into(),
        Format::I64 => "i64".into(),
        Format::Str => "str".into(),
        Format::Bytes => "bytes".into(),
        Format::Option(inner) => format!("option<{}>", format_text(inner, registry)),
        Format::Seq(inner) => format!("vec<{}>", format_text(inner, registry)),
        Format::Map { key, value } => format!("map<{}, {}>", format_text(key, registry), format_text(value, registry)),
        other => format!("unexpected {other:?}"),
    }
}

fn fields_text(fields: &[Named<Format>], registry: &Registry) -> String {
    let fields: Vec<String> =
        fields.iter().map(|field| format!("{}: {}", field.name, format_text(&field.value, registry))).collect();
    format!("{{{}}}", fields.join(", "))
}

/// One line per type, as `verify_export.py --schema wire` prints them.
fn rust_wire() -> String {
    let registry = rust_registry();
    let mut lines = Vec::new();
    for (type_name, container) in &registry {
        let text = match container {
            ContainerFormat::NewTypeStruct(_) => continue,
            ContainerFormat::Struct(fields) => format!("struct {}", fields_text(fields, &registry)),
            ContainerFormat::Enum(variants) => {
                let variants: Vec<String> = variants
                    .iter()
                    .map(|(index, variant)| {
                        let content = match &variant.value {
                            VariantFormat::Unit => "unit".to_owned(),
                            VariantFormat::NewType(inner) => format!("({})", format_text(inner, &registry)),
                            VariantFormat::Struct(fields) => fields_text(fields, &registry),
                            other => format!("unexpected {other:?}"),
                        };
                        format!("{index} {}: {content}", variant.name)
                    })
                    .collect();
                format!("enum {{{}}}", variants.join(", "))
            }
            other => format!("unexpected {other:?}"),
        };
        lines.push(format!("{} = {text}", name(type_name)));
    }
    lines.sort();
    lines.join("\n") + "\n"
}

fn python_schema(form: &str) -> String {
    let verifier = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_export.py");
    let output = Command::new("python3")
        .arg(verifier)
        .args(["--schema", form])
        .output()
        .unwrap_or_else(|err| panic!("python3 is needed to run tools/verify_export.py: {err}"));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Where two texts first differ, line by line.
fn first_difference(left: &str, right: &str) -> Option<(usize, String, String)> {
    let (mut a, mut b) = (left.lines(), right.lines());
    for line in 1.. {
        match (a.next(), b.next()) {
            (None, None) => return None,
            (x, y) if x != y => return Some((line, x.unwrap_or("<end>").to_owned(), y.unwrap_or("<end>").to_owned())),
            _ => {}
        }
    }
    None
}

#[test]
fn the_python_verifiers_schema_is_the_rust_types_as_bincode_writes_them() {
    let (rust, python) = (rust_wire(), python_schema("wire"));
    assert_eq!(first_difference(&rust, &python), None, "(line, Rust types, verify_export.py)");
}

#[test]
fn format_md_type_tables_are_the_python_verifiers_schema() {
    let doc = include_str!("../../../docs/FORMAT.md");
    let (begin, end) = ("<!-- type tables: begin -->\n", "<!-- type tables: end -->");
    let section = doc.split(begin).nth(1).and_then(|rest| rest.split(end).next()).unwrap();
    let python = python_schema("markdown");
    assert_eq!(
        first_difference(section, &python),
        None,
        "(line, FORMAT.md, `python3 tools/verify_export.py --schema markdown`)"
    );
}

#[test]
fn a_drifted_table_is_caught() {
    // The comparison itself can fail: a variant appended to the Rust side, or two swapped.
    let rust = rust_wire();
    let appended = rust.replace("17 checkpointed:", "17 checkpoint_made:");
    assert_ne!(appended, rust);
    assert!(first_difference(&appended, &python_schema("wire")).is_some());
    let swapped = rust.replace("0 I: unit, 1 II: unit", "0 II: unit, 1 I: unit");
    assert!(first_difference(&swapped, &python_schema("wire")).is_some());
}
