//! DUMP and RESTORE: a key's value as a self-checking RDB payload, and back.

use bytes::Bytes;

use crate::commands::args::{eq_ic, int};
use crate::commands::{CmdError, CmdResult};
use crate::db::Entry;
use crate::rdb;
use crate::server::context::Ctx;

pub fn dump(ctx: &mut Ctx) -> CmdResult {
    let opts = write_options(&ctx.state.config);
    let args = ctx.args;
    let Some(entry) = ctx.db().get(&args[1]) else {
        ctx.reply.null();
        return Ok(());
    };
    let payload = rdb::dump_payload_with(&entry.value, &opts);
    ctx.reply.bulk(&payload);
    Ok(())
}

/// The snapshot options the configuration asks for (`rdbcompression`,
/// `rdbchecksum`, list packing limits).
pub fn write_options(config: &crate::config::Config) -> rdb::WriteOptions {
    let yes = |name: &str| config.get(name).is_none_or(|v| v != "no");
    rdb::WriteOptions {
        compress: yes("rdbcompression"),
        checksum: yes("rdbchecksum"),
        list_max_listpack_size: config.settings.encoding.list_max_listpack_size,
        ..rdb::WriteOptions::default()
    }
}

/// RESTORE's trailing options.
#[derive(Default)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idle_secs: Option<i64>,
    freq: Option<i64>,
}

fn parse_restore_options(args: &[Bytes]) -> Result<RestoreOptions, CmdError> {
    let mut opts = RestoreOptions::default();
    let mut i = 4;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if eq_ic(&args[i], "replace") {
            opts.replace = true;
        } else if eq_ic(&args[i], "absttl") {
            opts.absttl = true;
        } else if eq_ic(&args[i], "idletime") && has_value && opts.freq.is_none() {
            let idle = int(&args[i + 1])?;
            if idle < 0 {
                return Err(CmdError::msg("ERR Invalid IDLETIME value, must be >= 0"));
            }
            opts.idle_secs = Some(idle);
            i += 1;
        } else if eq_ic(&args[i], "freq") && has_value && opts.idle_secs.is_none() {
            let freq = int(&args[i + 1])?;
            if !(0..=255).contains(&freq) {
                return Err(CmdError::msg(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            opts.freq = Some(freq);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(opts)
}

pub fn restore(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let opts = parse_restore_options(args)?;
    let key = &args[1][..];
    // Checked in Redis's order: existing key, TTL, payload.
    if !opts.replace && ctx.db().contains(key) {
        return Err(CmdError::msg("BUSYKEY Target key name already exists."));
    }
    let ttl = int(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::msg("ERR Invalid TTL value, must be >= 0"));
    }
    let limits = ctx.limits();
    let value = rdb::restore_payload_with(&args[3], &limits).map_err(|e| {
        if e.is_version_or_checksum() {
            CmdError::msg("ERR DUMP payload version or checksum are wrong")
        } else {
            CmdError::msg("ERR Bad data format")
        }
    })?;
    let deleted = opts.replace && ctx.db().delete(key);
    let now = crate::util::time::now_ms();
    let expire_at = match ttl {
        0 => 0,
        t if opts.absttl => t,
        t => t.saturating_add(now),
    };
    if expire_at != 0 && expire_at <= now && !ctx.state.is_replica() && !ctx.state.loading {
        // Already expired: the key is not created, and a replaced key is
        // gone, which replicas learn as a DEL.
        if deleted {
            ctx.dirty(1);
            ctx.propagate_as(vec![Ctx::word("DEL"), args[1].clone()]);
        }
        ctx.reply.ok();
        return Ok(());
    }
    let mut entry = Entry::new(value);
    entry.expire_at = expire_at;
    apply_access_hint(ctx, &mut entry, &opts);
    ctx.db().set_entry(key, entry);
    if expire_at != 0 && !opts.absttl {
        // Replicas get the absolute expiry time, as Redis 7.0 sends it.
        let mut argv = args.to_vec();
        argv[2] = Bytes::from(expire_at.to_string());
        argv.push(Ctx::word("ABSTTL"));
        ctx.propagate_as(argv);
    }
    ctx.dirty(1);
    ctx.reply.ok();
    Ok(())
}

/// IDLETIME sets the access time under LRU-style tracking, FREQ the
/// counter under an LFU policy; the other option is ignored, as in Redis.
fn apply_access_hint(ctx: &Ctx, entry: &mut Entry, opts: &RestoreOptions) {
    let lfu = ctx
        .state
        .config
        .get("maxmemory-policy")
        .is_some_and(|p| p.contains("lfu"));
    if lfu {
        if let Some(freq) = opts.freq {
            let minutes = (crate::util::time::now_ms() / 60_000) as u32 & 0xffff;
            entry.lru = (minutes << 8) | freq as u32;
        }
    } else if let Some(idle) = opts.idle_secs {
        let idle = idle.min(u32::MAX as i64) as u32;
        entry.lru = crate::db::lru_clock().wrapping_sub(idle);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::config::Config;
    use crate::db::{CompactBytes, Value};
    use crate::resp::Reply;
    use crate::server::client::ClientState;
    use crate::server::exec::execute;
    use crate::server::state::ServerState;
    use crate::server::test_support::StreamCapture;

    fn run(state: &mut ServerState, client: &mut ClientState, args: &[&[u8]]) -> Vec<u8> {
        let args = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut reply = Reply::new(false);
        execute(state, client, &mut reply, args);
        reply.take()
    }

    #[test]
    fn restore_propagates_absolute_ttls_and_dels() {
        let mut state = ServerState::new(Config::default());
        let stream = StreamCapture::attach(&mut state);
        let mut client = ClientState::new(1, "127.0.0.1:1".into(), true);
        let payload = crate::rdb::dump_payload(&Value::Str(CompactBytes::new(b"v")));
        let before = crate::util::time::now_ms();

        // No TTL: verbatim.
        let ok = b"+OK\r\n".to_vec();
        assert_eq!(
            run(&mut state, &mut client, &[b"RESTORE", b"a", b"0", &payload]),
            ok
        );
        // A relative TTL becomes an absolute one plus ABSTTL.
        assert_eq!(
            run(
                &mut state,
                &mut client,
                &[b"RESTORE", b"b", b"5000", &payload]
            ),
            ok
        );
        // Already expired and nothing replaced: no change, nothing sent.
        assert_eq!(
            run(
                &mut state,
                &mut client,
                &[b"RESTORE", b"c", b"1", &payload, b"ABSTTL"]
            ),
            ok
        );
        // Already expired, replacing a key: the key goes, as a DEL.
        assert_eq!(
            run(
                &mut state,
                &mut client,
                &[b"RESTORE", b"a", b"1", &payload, b"ABSTTL", b"REPLACE"]
            ),
            ok
        );
        assert_eq!(state.dbs[0].peek(b"a").map(|_| ()), None);
        let commands = stream.commands_without_select();
        assert_eq!(commands.len(), 3, "{commands:?}");
        assert!(commands[0].starts_with("RESTORE a 0 "), "{commands:?}");
        let parts: Vec<&str> = commands[1].split(' ').collect();
        assert_eq!(parts[..2], ["RESTORE", "b"]);
        let at: i64 = parts[2].parse().unwrap();
        assert!(at >= before + 5000 && at <= crate::util::time::now_ms() + 5000);
        assert_eq!(parts.last(), Some(&"ABSTTL"));
        assert_eq!(commands[2], "DEL a");
        assert_eq!(state.dbs[0].peek(b"b").map(|e| e.expire_at), Some(at));
    }
}
