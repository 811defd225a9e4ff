//! Prints the README's generated lists: the supported commands grouped by
//! family, or (`--ignored-directives`) the config directives accepted without
//! effect. `cargo run -p redis-ha-node --example command_list [-- --ignored-directives]`
//! The `readme` test checks that the README agrees with the code.

use std::collections::BTreeMap;

use redis_ha_node::config::{Effect, DIRECTIVES};

fn commands() {
    let mut groups: BTreeMap<&str, Vec<(&str, String)>> = BTreeMap::new();
    for spec in redis_ha_node::commands::table().all() {
        let mut entry = format!("`{}`", spec.name.to_ascii_uppercase());
        if !spec.subcommands.is_empty() {
            let subs: Vec<String> = spec
                .subcommands
                .iter()
                .map(|s| s.name.to_ascii_uppercase())
                .collect();
            entry.push_str(&format!(" ({})", subs.join(", ")));
        }
        groups
            .entry(spec.group)
            .or_default()
            .push((spec.name, entry));
    }
    for (group, mut names) in groups {
        names.sort();
        let list: Vec<String> = names.into_iter().map(|(_, e)| e).collect();
        println!("- **{group}**: {}", list.join(", "));
    }
}

fn ignored_directives() {
    let names: Vec<String> = DIRECTIVES
        .iter()
        .filter(|d| d.effect == Effect::None)
        .map(|d| format!("`{}`", d.name))
        .collect();
    println!("{}", names.join(", "));
}

fn main() {
    if std::env::args().any(|a| a == "--ignored-directives") {
        ignored_directives();
    } else {
        commands();
    }
}
