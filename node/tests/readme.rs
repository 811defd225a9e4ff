//! The README's lists must match the code: every command in the table is
//! listed as supported, and every accepted-but-ignored directive is listed.

use redis_ha_node::commands::table;
use redis_ha_node::config::{Effect, DIRECTIVES};

fn readme() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).expect("README.md at the repository root")
}

/// The text between a heading and the next heading of the same level.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("README has no section {heading:?}"));
    let rest = &text[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_command_is_listed() {
    let text = readme();
    let list = section(&text, "## Supported commands");
    let missing: Vec<&str> = table()
        .all()
        .iter()
        .map(|c| c.name)
        .filter(|n| !list.contains(&format!("`{}`", n.to_ascii_uppercase())))
        .collect();
    assert!(
        missing.is_empty(),
        "README's command list lacks: {missing:?}"
    );
}

#[test]
fn every_ignored_directive_is_listed() {
    let text = readme();
    let list = section(&text, "## Config directives without effect");
    let missing: Vec<&str> = DIRECTIVES
        .iter()
        .filter(|d| d.effect == Effect::None)
        .map(|d| d.name)
        .filter(|n| !list.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's ignored-directive list lacks: {missing:?}"
    );
    // And nothing listed there is actually applied.
    for d in DIRECTIVES.iter().filter(|d| d.effect == Effect::Applied) {
        assert!(
            !list.contains(&format!("`{}`", d.name)),
            "{} is applied but listed as ignored",
            d.name
        );
    }
}
