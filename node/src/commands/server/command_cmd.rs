//! COMMAND, COMMAND COUNT / LIST / INFO / DOCS / GETKEYS / GETKEYSANDFLAGS /
//! HELP, built from the command table plus `command_meta` for the parts of
//! Redis's descriptions the table does not carry.

use bytes::Bytes;

use super::command_meta::{
    self, legacy_range, ArgValue, BeginSearch, DocArg, FindKeys, KeySpec, Meta, ACL_CATEGORIES,
};
use super::subcommands::{reply_help, resolve};
use crate::commands::args::eq_ic;
use crate::commands::{flags, table, CmdError, CmdResult, CommandSpec, SubcommandSpec};
use crate::resp::Reply;
use crate::server::context::Ctx;

/// A command or subcommand as COMMAND describes it.
struct View {
    name: String,
    arity: i32,
    flags: u32,
    first: i64,
    last: i64,
    step: i64,
    group: &'static str,
    summary: &'static str,
    since: &'static str,
    meta: Option<&'static Meta>,
    subs: Vec<View>,
}

impl View {
    fn of(spec: &'static CommandSpec) -> View {
        View {
            name: spec.name.to_string(),
            arity: spec.arity,
            flags: spec.flags,
            first: spec.first_key as i64,
            last: spec.last_key as i64,
            step: spec.key_step as i64,
            group: spec.group,
            summary: spec.summary,
            since: spec.since,
            meta: command_meta::lookup(spec.name),
            subs: spec
                .subcommands
                .iter()
                .map(|s| View::of_sub(spec, s))
                .collect(),
        }
    }

    /// Subcommands carry no key positions or version in the table; they
    /// come from their description (key specs imply the positions).
    fn of_sub(parent: &'static CommandSpec, sub: &'static SubcommandSpec) -> View {
        let name = format!("{}|{}", parent.name, sub.name);
        let meta = command_meta::lookup(&name);
        let (first, last, step) = meta.map_or((0, 0, 0), |m| legacy_range(&m.key_specs));
        View {
            arity: sub.arity,
            flags: sub.flags,
            first,
            last,
            step,
            group: meta.map_or(parent.group, |m| m.group),
            summary: sub.summary,
            since: meta.map_or(parent.since, |m| m.since),
            meta,
            subs: Vec::new(),
            name,
        }
    }

    fn movable_keys(&self) -> bool {
        self.meta.is_some_and(|m| m.movable_keys)
    }

    fn categories(&self) -> Vec<&'static str> {
        match self.meta {
            Some(m) => m.categories.clone(),
            None => derived_categories(self.flags, self.group),
        }
    }

    fn tips(&self) -> &[&'static str] {
        self.meta.map_or(&[], |m| &m.tips)
    }

    fn key_specs(&self) -> Vec<KeySpec> {
        match self.meta {
            Some(m) => m.key_specs.clone(),
            None => derived_key_specs(self),
        }
    }
}

/// ACL categories implied by flags and group, for commands Redis 7.0 does
/// not describe (Redis derives the same ones from the flags).
fn derived_categories(f: u32, group: &str) -> Vec<&'static str> {
    let mut cats: Vec<&'static str> = Vec::new();
    let group_cat = match group {
        "generic" => Some("keyspace"),
        "string" => Some("string"),
        "list" => Some("list"),
        "hash" => Some("hash"),
        "set" => Some("set"),
        "sorted-set" => Some("sortedset"),
        "bitmap" => Some("bitmap"),
        "hyperloglog" => Some("hyperloglog"),
        "geo" => Some("geo"),
        "stream" => Some("stream"),
        "connection" => Some("connection"),
        "transactions" => Some("transaction"),
        "scripting" => Some("scripting"),
        _ => None,
    };
    cats.extend(group_cat);
    let implied = [
        (flags::WRITE, "write"),
        (flags::READONLY, "read"),
        (flags::ADMIN, "admin"),
        (flags::ADMIN, "dangerous"),
        (flags::PUBSUB, "pubsub"),
        (flags::FAST, "fast"),
        (flags::BLOCKING, "blocking"),
    ];
    for (flag, cat) in implied {
        if f & flag != 0 {
            cats.push(cat);
        }
    }
    if f & flags::FAST == 0 {
        cats.push("slow");
    }
    ACL_CATEGORIES
        .iter()
        .copied()
        .filter(|c| cats.contains(c))
        .collect()
}

/// One plain range spec from (first, last, step).
fn derived_key_specs(v: &View) -> Vec<KeySpec> {
    if v.first <= 0 {
        return Vec::new();
    }
    let access = if v.flags & flags::WRITE != 0 {
        "RW"
    } else {
        "RO"
    };
    vec![KeySpec {
        notes: None,
        flags: vec![access],
        begin: BeginSearch::Index(v.first),
        find: FindKeys::Range {
            lastkey: if v.last >= 0 {
                v.last - v.first
            } else {
                v.last
            },
            keystep: v.step,
            limit: 0,
        },
    }]
}

pub fn command(ctx: &mut Ctx) -> CmdResult {
    if ctx.argc() == 1 {
        let all = table().all();
        ctx.reply.array_len(all.len());
        for spec in all {
            reply_info(ctx.reply, &View::of(spec));
        }
        return Ok(());
    }
    match resolve(ctx)?.name {
        "count" => {
            ctx.reply.int(table().all().len() as i64);
            Ok(())
        }
        "list" => list(ctx),
        "info" => info(ctx),
        "docs" => docs(ctx),
        "getkeys" => getkeys(ctx, false),
        "getkeysandflags" => getkeys(ctx, true),
        _ => {
            reply_help(
                ctx,
                &[
                    "(no subcommand)",
                    "    Return details about all Redis commands.",
                    "COUNT",
                    "    Return the total number of commands in this Redis server.",
                    "LIST",
                    "    Return a list of all commands in this Redis server.",
                    "INFO [<command-name> ...]",
                    "    Return details about multiple Redis commands.",
                    "    If no command names are given, documentation details for all",
                    "    commands are returned.",
                    "DOCS [<command-name> ...]",
                    "    Return documentation details about multiple Redis commands.",
                    "    If no command names are given, documentation details for all",
                    "    commands are returned.",
                    "GETKEYS <full-command>",
                    "    Return the keys from a full Redis command.",
                    "GETKEYSANDFLAGS <full-command>",
                    "    Return the keys and the access flags from a full Redis command.",
                ],
            );
            Ok(())
        }
    }
}

/// Finds `name` or `container|sub` (case-insensitive).
fn find_view(name: &[u8]) -> Option<View> {
    let text = String::from_utf8_lossy(name).to_ascii_lowercase();
    let (base, sub) = match text.split_once('|') {
        Some((b, s)) => (b, Some(s)),
        None => (text.as_str(), None),
    };
    let spec = table().lookup(base.as_bytes())?;
    match sub {
        None => Some(View::of(spec)),
        Some(s) => spec
            .subcommands
            .iter()
            .find(|x| x.name == s)
            .map(|x| View::of_sub(spec, x)),
    }
}

/// The flags COMMAND INFO prints, in Redis's order (movablekeys is derived
/// from the key specs and sits just before allow_busy).
fn flag_names(v: &View) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut movable = v.movable_keys();
    for (flag, name) in flags::NAMES {
        if *flag == flags::ALLOW_BUSY && movable {
            out.push("movablekeys");
            movable = false;
        }
        if v.flags & flag != 0 {
            out.push(*name);
        }
    }
    if movable {
        out.push("movablekeys");
    }
    out
}

fn reply_key_spec(reply: &mut Reply, spec: &KeySpec) {
    reply.map_len(3 + spec.notes.is_some() as usize);
    if let Some(notes) = spec.notes {
        reply.bulk(b"notes");
        reply.bulk(notes.as_bytes());
    }
    reply.bulk(b"flags");
    reply.set_len(spec.flags.len());
    for f in &spec.flags {
        reply.simple(f);
    }
    reply.bulk(b"begin_search");
    reply.map_len(2);
    reply.bulk(b"type");
    match spec.begin {
        BeginSearch::Index(i) => {
            reply.bulk(b"index");
            reply.bulk(b"spec");
            reply.map_len(1);
            reply.bulk(b"index");
            reply.int(i);
        }
        BeginSearch::Keyword(word, from) => {
            reply.bulk(b"keyword");
            reply.bulk(b"spec");
            reply.map_len(2);
            reply.bulk(b"keyword");
            reply.bulk(word.as_bytes());
            reply.bulk(b"startfrom");
            reply.int(from);
        }
        BeginSearch::Unknown => {
            reply.bulk(b"unknown");
            reply.bulk(b"spec");
            reply.map_len(0);
        }
    }
    reply.bulk(b"find_keys");
    reply.map_len(2);
    reply.bulk(b"type");
    match spec.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            reply.bulk(b"range");
            reply.bulk(b"spec");
            reply.map_len(3);
            for (name, v) in [("lastkey", lastkey), ("keystep", keystep), ("limit", limit)] {
                reply.bulk(name.as_bytes());
                reply.int(v);
            }
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            reply.bulk(b"keynum");
            reply.bulk(b"spec");
            reply.map_len(3);
            for (name, v) in [
                ("keynumidx", keynumidx),
                ("firstkey", firstkey),
                ("keystep", keystep),
            ] {
                reply.bulk(name.as_bytes());
                reply.int(v);
            }
        }
        FindKeys::Unknown => {
            reply.bulk(b"unknown");
            reply.bulk(b"spec");
            reply.map_len(0);
        }
    }
}

/// The 10-element COMMAND INFO entry of Redis 7.0.
fn reply_info(reply: &mut Reply, v: &View) {
    reply.array_len(10);
    reply.bulk(v.name.as_bytes());
    reply.int(v.arity as i64);
    let names = flag_names(v);
    reply.set_len(names.len());
    for n in names {
        reply.simple(n);
    }
    reply.int(v.first);
    reply.int(v.last);
    reply.int(v.step);
    let cats = v.categories();
    reply.set_len(cats.len());
    for c in cats {
        reply.simple(&format!("@{c}"));
    }
    let tips = v.tips();
    reply.set_len(tips.len());
    for t in tips {
        reply.bulk(t.as_bytes());
    }
    let specs = v.key_specs();
    reply.set_len(specs.len());
    for s in &specs {
        reply_key_spec(reply, s);
    }
    if v.subs.is_empty() {
        reply.set_len(0);
    } else {
        reply.array_len(v.subs.len());
        for s in &v.subs {
            reply_info(reply, s);
        }
    }
}

/// COMMAND DOCS' map for one command.
fn reply_docs(reply: &mut Reply, v: &View) {
    let m = v.meta;
    let complexity = m.map_or("", |m| m.complexity);
    let doc_flags: &[&str] = m.map_or(&[], |m| &m.doc_flags);
    let deprecated = m.map_or("", |m| m.deprecated_since);
    let replaced_by = m.map_or("", |m| m.replaced_by);
    let history: &[(&str, &str)] = m.map_or(&[], |m| &m.history);
    let arguments: &[DocArg] = m.map_or(&[], |m| &m.arguments);
    let fields = 3
        + !complexity.is_empty() as usize
        + !doc_flags.is_empty() as usize
        + !deprecated.is_empty() as usize
        + !replaced_by.is_empty() as usize
        + !history.is_empty() as usize
        + !arguments.is_empty() as usize
        + !v.subs.is_empty() as usize;
    reply.map_len(fields);
    reply.bulk(b"summary");
    reply.bulk(v.summary.as_bytes());
    reply.bulk(b"since");
    reply.bulk(v.since.as_bytes());
    reply.bulk(b"group");
    reply.bulk(v.group.as_bytes());
    if !complexity.is_empty() {
        reply.bulk(b"complexity");
        reply.bulk(complexity.as_bytes());
    }
    if !doc_flags.is_empty() {
        reply.bulk(b"doc_flags");
        reply.set_len(doc_flags.len());
        for f in doc_flags {
            reply.simple(f);
        }
    }
    if !deprecated.is_empty() {
        reply.bulk(b"deprecated_since");
        reply.bulk(deprecated.as_bytes());
    }
    if !replaced_by.is_empty() {
        reply.bulk(b"replaced_by");
        reply.bulk(replaced_by.as_bytes());
    }
    if !history.is_empty() {
        reply.bulk(b"history");
        reply.set_len(history.len());
        for (version, text) in history {
            reply.array_len(2);
            reply.bulk(version.as_bytes());
            reply.bulk(text.as_bytes());
        }
    }
    if !arguments.is_empty() {
        reply.bulk(b"arguments");
        reply_doc_args(reply, arguments);
    }
    if !v.subs.is_empty() {
        reply.bulk(b"subcommands");
        reply.map_len(v.subs.len());
        for s in &v.subs {
            reply.bulk(s.name.as_bytes());
            reply_docs(reply, s);
        }
    }
}

/// COMMAND DOCS' argument descriptions: an array of maps, nested for
/// oneof/block arguments.
fn reply_doc_args(reply: &mut Reply, args: &[DocArg]) {
    reply.array_len(args.len());
    for arg in args {
        reply.map_len(arg.fields.len());
        for (key, value) in &arg.fields {
            reply.bulk(key.as_bytes());
            match value {
                ArgValue::Text(t) => reply.bulk(t.as_bytes()),
                ArgValue::Int(n) => reply.int(*n),
                ArgValue::Flags(flags) => {
                    reply.set_len(flags.len());
                    for f in flags {
                        reply.simple(f);
                    }
                }
                ArgValue::Args(inner) => reply_doc_args(reply, inner),
            }
        }
    }
}

fn info(ctx: &mut Ctx) -> CmdResult {
    if ctx.argc() == 2 {
        let all = table().all();
        ctx.reply.array_len(all.len());
        for spec in all {
            reply_info(ctx.reply, &View::of(spec));
        }
        return Ok(());
    }
    ctx.reply.array_len(ctx.argc() - 2);
    for name in &ctx.args[2..] {
        match find_view(name) {
            Some(v) => reply_info(ctx.reply, &v),
            None => ctx.reply.null(),
        }
    }
    Ok(())
}

fn docs(ctx: &mut Ctx) -> CmdResult {
    let views: Vec<View> = if ctx.argc() == 2 {
        table().all().iter().map(|s| View::of(s)).collect()
    } else {
        ctx.args[2..].iter().filter_map(|n| find_view(n)).collect()
    };
    ctx.reply.map_len(views.len());
    for v in &views {
        ctx.reply.bulk(v.name.as_bytes());
        reply_docs(ctx.reply, v);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]:
/// every command and subcommand name that passes the filter.
fn list(ctx: &mut Ctx) -> CmdResult {
    enum Filter {
        All,
        Module,
        AclCat(String),
        Pattern(Bytes),
    }
    let filter = match ctx.argc() {
        2 => Filter::All,
        5 if eq_ic(ctx.arg(2), "filterby") => {
            let value = ctx.args[4].clone();
            if eq_ic(ctx.arg(3), "module") {
                Filter::Module
            } else if eq_ic(ctx.arg(3), "aclcat") {
                Filter::AclCat(String::from_utf8_lossy(&value).to_ascii_lowercase())
            } else if eq_ic(ctx.arg(3), "pattern") {
                Filter::Pattern(value)
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let keep = |v: &View| match &filter {
        Filter::All => true,
        // No modules can be loaded here.
        Filter::Module => false,
        Filter::AclCat(cat) => v.categories().iter().any(|c| c == cat),
        Filter::Pattern(p) => crate::glob::glob_match(p, v.name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for spec in table().all() {
        let v = View::of(spec);
        if keep(&v) {
            names.push(v.name.clone());
        }
        for s in &v.subs {
            if keep(s) {
                names.push(s.name.clone());
            }
        }
    }
    ctx.reply.array_len(names.len());
    for n in names {
        ctx.reply.bulk(n.as_bytes());
    }
    Ok(())
}

/// Positions of key arguments found by one key spec, or None when the spec
/// cannot be applied to these arguments (Redis then reports an error).
fn spec_positions(spec: &KeySpec, args: &[Bytes]) -> Option<Vec<usize>> {
    let argc = args.len() as i64;
    let first = match spec.begin {
        BeginSearch::Index(i) => i,
        BeginSearch::Keyword(word, from) => {
            // Like Redis, the search stops short of the far end (the last
            // argument forwards, the first one backwards).
            let found = if from > 0 {
                (from..argc - 1).find(|&i| eq_ic(&args[i as usize], word))
            } else {
                (2..=(argc + from).min(argc - 1))
                    .rev()
                    .find(|&i| eq_ic(&args[i as usize], word))
            };
            match found {
                Some(i) => i + 1,
                // No keyword: this spec has no keys here.
                None => return Some(Vec::new()),
            }
        }
        BeginSearch::Unknown => return None,
    };
    let (first, last, step) = match spec.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit == 0 {
                argc + lastkey
            } else {
                first + ((argc - first) / limit + lastkey)
            };
            (first, last, keystep)
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            let at = first + keynumidx;
            if at >= argc {
                return None;
            }
            let n = crate::util::number::parse_i64(&args[at as usize]).filter(|n| *n >= 0)?;
            let start = first + firstkey;
            // A huge count must not overflow: it simply runs past the end.
            (start, start.saturating_add(n) - 1, keystep)
        }
        FindKeys::Unknown => return None,
    };
    if last >= argc || last < first || first >= argc || step <= 0 {
        return None;
    }
    Some(
        (first..=last)
            .step_by(step as usize)
            .map(|i| i as usize)
            .collect(),
    )
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS <full command>.
fn getkeys(ctx: &mut Ctx, with_flags: bool) -> CmdResult {
    let args = &ctx.args[2..];
    let Some(spec) = table().lookup(&args[0]) else {
        return Err(CmdError::msg("ERR Invalid command specified"));
    };
    let view = if spec.subcommands.is_empty() {
        View::of(spec)
    } else {
        let sub = args.get(1).and_then(|name| {
            spec.subcommands
                .iter()
                .find(|s| name.eq_ignore_ascii_case(s.name.as_bytes()))
        });
        match sub {
            Some(s) => View::of_sub(spec, s),
            None => return Err(CmdError::msg("ERR Invalid command specified")),
        }
    };
    let specs: Vec<KeySpec> = view
        .key_specs()
        .into_iter()
        .filter(|s| !s.has_flag("not_key"))
        .collect();
    if specs.is_empty() {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    let argc = args.len() as i64;
    let arity = view.arity as i64;
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(CmdError::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let mut keys: Vec<(usize, &KeySpec)> = Vec::new();
    for s in &specs {
        match spec_positions(s, args) {
            Some(found) => keys.extend(found.into_iter().map(|p| (p, s))),
            None => {
                keys.clear();
                break;
            }
        }
    }
    if keys.is_empty() {
        if view.flags & flags::NO_MANDATORY_KEYS != 0 {
            ctx.reply.array_len(0);
            return Ok(());
        }
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    ctx.reply.array_len(keys.len());
    for (pos, s) in keys {
        if with_flags {
            ctx.reply.array_len(2);
            ctx.reply.bulk(&args[pos]);
            ctx.reply.set_len(s.flags.len());
            for f in &s.flags {
                ctx.reply.simple(f);
            }
        } else {
            ctx.reply.bulk(&args[pos]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn keys_of(name: &str, cmd: &str) -> Option<Vec<String>> {
        let meta = command_meta::lookup(name).unwrap();
        let args = argv(cmd);
        let mut out = Vec::new();
        for s in &meta.key_specs {
            for p in spec_positions(s, &args)? {
                out.push(String::from_utf8_lossy(&args[p]).into_owned());
            }
        }
        Some(out)
    }

    #[test]
    fn key_extraction() {
        assert_eq!(keys_of("mset", "mset a 1 b 2").unwrap(), ["a", "b"]);
        assert_eq!(
            keys_of("zunionstore", "zunionstore d 2 a b").unwrap(),
            ["d", "a", "b"]
        );
        assert_eq!(
            keys_of("zunionstore", "zunionstore d 1 a b").unwrap(),
            ["d", "a"]
        );
        assert!(keys_of("zunionstore", "zunionstore d 5 a b").is_none());
        assert!(keys_of("zunionstore", "zunionstore d 0 a").is_none());
        assert!(keys_of("zunionstore", "zunionstore d 9223372036854775807 a").is_none());
        assert_eq!(
            keys_of("xread", "xread count 2 streams a b 0 0").unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            keys_of("lmove", "lmove a b left right").unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            keys_of("migrate", "migrate h p x 0 5 keys a b").unwrap(),
            ["x", "a", "b"]
        );
    }

    /// Every command (and subcommand) in the table must describe itself as
    /// Redis 7.0 does: arity, visible flags, key positions, summary, since
    /// and group. All mismatches are listed at once.
    #[test]
    fn command_table_matches_redis_7_0() {
        let mut problems = Vec::new();
        let check = |v: &View, problems: &mut Vec<String>| {
            let Some(m) = v.meta else {
                return;
            };
            let flags: Vec<&str> = flag_names(v)
                .into_iter()
                .filter(|f| *f != "movablekeys")
                .collect();
            let ours = (
                v.arity as i64,
                flags,
                (v.first, v.last, v.step),
                v.summary,
                v.since,
                v.group,
            );
            let redis = (
                m.arity,
                m.flags.clone(),
                m.range,
                m.summary,
                m.since,
                m.group,
            );
            if ours != redis {
                problems.push(format!(
                    "{}:\n  ours:  {ours:?}\n  redis: {redis:?}",
                    v.name
                ));
            }
        };
        for spec in table().all() {
            let v = View::of(spec);
            check(&v, &mut problems);
            for s in &v.subs {
                if s.meta.is_none() {
                    problems.push(format!("{}: not a Redis 7.0 subcommand", s.name));
                }
                check(s, &mut problems);
            }
        }
        assert!(
            problems.is_empty(),
            "{} mismatches:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }

    #[test]
    fn derived_categories_follow_redis_order() {
        assert_eq!(
            derived_categories(flags::WRITE | flags::FAST, "string"),
            ["write", "string", "fast"]
        );
        assert_eq!(
            derived_categories(flags::ADMIN, "server"),
            ["admin", "slow", "dangerous"]
        );
    }
}
