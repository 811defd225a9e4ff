//! DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, LASTSAVE, SHUTDOWN, MONITOR,
//! ROLE, LOLWUT.

use crate::commands::args::{eq_ic, int};
use crate::commands::{CmdError, CmdResult};
use crate::config::REDIS_VERSION;
use crate::db::Db;
use crate::server::context::Ctx;
use crate::server::persist;
use crate::server::state::{ServerState, ShutdownRequest};

/// Databases with more keys than this are freed on a helper thread when a
/// flush is asynchronous (Redis's LAZYFREE_THRESHOLD is 64 allocations).
const LAZYFREE_THRESHOLD: usize = 64;

pub fn dbsize(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.db().len();
    ctx.reply.int(n as i64);
    Ok(())
}

/// The time of the last successful save. Redis counts the start-up as a
/// save ("at startup we consider the DB saved").
pub fn last_save_time(state: &ServerState) -> i64 {
    state.persist.last_save_time
}

/// SAVE: a synchronous snapshot; a failure is a bare "-ERR" as in Redis.
pub fn save(ctx: &mut Ctx) -> CmdResult {
    if persist::bgsave_in_progress(ctx.state) {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    persist::save(ctx.state).map_err(|_| CmdError::msg("ERR"))?;
    ctx.reply.ok();
    Ok(())
}

/// BGSAVE [SCHEDULE]: forks a child that writes the snapshot. Inside EXEC
/// the save is only scheduled (for the cron), as Redis does.
pub fn bgsave(ctx: &mut Ctx) -> CmdResult {
    match ctx.args.len() {
        1 => {}
        2 if eq_ic(&ctx.args[1], "schedule") => {}
        _ => return Err(CmdError::Syntax),
    }
    if persist::bgsave_in_progress(ctx.state) {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    let schedule = ctx.args.len() == 2;
    let aof_child = ctx.state.aof.child.is_some();
    if aof_child && !schedule && !ctx.client.in_exec {
        return Err(CmdError::msg("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."));
    }
    if ctx.client.in_exec || aof_child {
        ctx.state.persist.bgsave_scheduled = true;
        ctx.reply.simple("Background saving scheduled");
        return Ok(());
    }
    persist::bgsave(ctx.state).map_err(|_| CmdError::msg("ERR"))?;
    ctx.reply.simple("Background saving started");
    Ok(())
}

pub fn lastsave(ctx: &mut Ctx) -> CmdResult {
    let t = last_save_time(ctx.state);
    ctx.reply.int(t);
    Ok(())
}

pub fn time(ctx: &mut Ctx) -> CmdResult {
    let now = crate::util::time::now_us();
    ctx.reply.array_len(2);
    ctx.reply.bulk_int(now / 1_000_000);
    ctx.reply.bulk_int(now % 1_000_000);
    Ok(())
}

/// Marks the watchers of keys that exist in `db` (or in `other`, the
/// database about to take its place) as dirty: their EXEC fails. Watchers of
/// keys that exist in neither see no change, as in Redis.
fn touch_watched_in_db(state: &mut ServerState, db: usize, other: Option<usize>) {
    if state.watched.is_empty() {
        return;
    }
    let mut touched = Vec::new();
    for ((watched_db, key), ids) in &state.watched {
        if *watched_db != db {
            continue;
        }
        let exists = state.dbs[db].peek(key).is_some()
            || other.is_some_and(|o| state.dbs[o].peek(key).is_some());
        if exists {
            touched.extend(ids.iter().copied());
        }
    }
    for id in touched {
        if let Some(c) = state.clients.get_mut(id) {
            c.dirty_cas = true;
        }
    }
}

/// Empties one database; returns how many keys it held.
fn empty_db(state: &mut ServerState, i: usize, lazy: bool) -> usize {
    touch_watched_in_db(state, i, None);
    let db = &mut state.dbs[i];
    let removed = db.len();
    if lazy && removed > LAZYFREE_THRESHOLD {
        let mut fresh = Db::new(db.id);
        fresh.now_ms = db.now_ms;
        fresh.delete_expired = db.delete_expired;
        fresh.stats = db.stats;
        fresh.expired_log = std::mem::take(&mut db.expired_log);
        let old = std::mem::replace(db, fresh);
        // Freeing millions of values takes a while: do it off the lock.
        std::thread::spawn(move || drop(old));
    } else {
        db.clear();
    }
    removed
}

/// `[ASYNC|SYNC]` of FLUSHDB/FLUSHALL: whether to free in the background.
fn flush_is_lazy(ctx: &Ctx) -> Result<bool, CmdError> {
    match ctx.argc() {
        1 => Ok(ctx.state.config.settings.lazyfree_lazy_user_flush),
        2 if eq_ic(ctx.arg(1), "async") => Ok(true),
        2 if eq_ic(ctx.arg(1), "sync") => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

pub fn flushdb(ctx: &mut Ctx) -> CmdResult {
    let lazy = flush_is_lazy(ctx)?;
    let db = ctx.db_index();
    let removed = empty_db(ctx.state, db, lazy);
    ctx.dirty(removed as u64);
    // Propagated even when the database was already empty, as Redis 7.0 does.
    ctx.propagate_as(ctx.args.to_vec());
    ctx.reply.ok();
    Ok(())
}

pub fn flushall(ctx: &mut Ctx) -> CmdResult {
    let lazy = flush_is_lazy(ctx)?;
    let mut removed = 0;
    for i in 0..ctx.state.dbs.len() {
        removed += empty_db(ctx.state, i, lazy);
    }
    ctx.dirty(removed as u64);
    // As Redis does: a running child's snapshot is obsolete, and with save
    // points the (now empty) dataset is saved at once.
    persist::kill_child(ctx.state);
    if !persist::save_points(ctx.state).is_empty() {
        let _ = persist::save(ctx.state);
        ctx.dirty(1);
    }
    ctx.propagate_as(ctx.args.to_vec());
    ctx.reply.ok();
    Ok(())
}

pub fn swapdb(ctx: &mut Ctx) -> CmdResult {
    let first = int(ctx.arg(1)).map_err(|_| CmdError::msg("ERR invalid first DB index"))?;
    let second = int(ctx.arg(2)).map_err(|_| CmdError::msg("ERR invalid second DB index"))?;
    let count = ctx.state.dbs.len() as i64;
    if !(0..count).contains(&first) || !(0..count).contains(&second) {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    let (a, b) = (first as usize, second as usize);
    if a != b {
        touch_watched_in_db(ctx.state, a, Some(b));
        touch_watched_in_db(ctx.state, b, Some(a));
        let (low, high) = (a.min(b), a.max(b));
        let (left, right) = ctx.state.dbs.split_at_mut(high);
        left[low].swap_contents(&mut right[0]);
        wake_blocked_in(ctx.state, a);
        wake_blocked_in(ctx.state, b);
    }
    ctx.dirty(1);
    ctx.reply.ok();
    Ok(())
}

/// Clients blocked on keys of a database whose contents were swapped may
/// now find their key: mark every present key as ready for them.
fn wake_blocked_in(state: &mut ServerState, db: usize) {
    if state.blocked.is_empty() {
        return;
    }
    let ServerState { dbs, blocked, .. } = state;
    for (key, _) in dbs[db].iter_live() {
        blocked.signal_key(db, key);
    }
}

pub fn shutdown(ctx: &mut Ctx) -> CmdResult {
    let (mut save, mut nosave, mut now, mut force, mut abort) = (false, false, false, false, false);
    for arg in &ctx.args[1..] {
        let flag = match arg.to_ascii_lowercase().as_slice() {
            b"save" => &mut save,
            b"nosave" => &mut nosave,
            b"now" => &mut now,
            b"force" => &mut force,
            b"abort" => &mut abort,
            _ => return Err(CmdError::Syntax),
        };
        *flag = true;
    }
    if (save && nosave) || (abort && (save || nosave || now || force)) {
        return Err(CmdError::Syntax);
    }
    if abort {
        // Our shutdown never waits for replicas, so none can be in progress.
        return Err(CmdError::msg("ERR No shutdown in progress."));
    }
    crate::warning!("User requested shutdown...");
    persist::kill_child_for_shutdown(ctx.state);
    // SAVE forces a snapshot, NOSAVE forbids it, otherwise configured save
    // points decide.
    if save || (!nosave && !persist::save_points(ctx.state).is_empty()) {
        crate::notice!("Saving the final RDB snapshot before exiting.");
        if persist::save(ctx.state).is_err() {
            if !force {
                crate::warning!("Error trying to save the DB, can't exit.");
                return Err(CmdError::msg("ERR Errors trying to SHUTDOWN. Check logs."));
            }
            crate::warning!("Error trying to save the DB. Exit anyway.");
        }
    }
    ctx.state.shutdown = Some(ShutdownRequest {
        save: if save {
            Some(true)
        } else if nosave {
            Some(false)
        } else {
            None
        },
        now,
        force,
    });
    ctx.state.shutdown_notify.notify_one();
    // A successful SHUTDOWN has no reply: the connection just closes.
    ctx.client.close_after_reply = true;
    Ok(())
}

pub fn monitor(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::msg(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    // Already a monitor (or a replica): Redis ignores the command silently.
    if ctx.client.monitor || ctx.client.is_replica {
        return Ok(());
    }
    ctx.client.monitor = true;
    ctx.state.monitors.push(ctx.client.id);
    ctx.reply.ok();
    Ok(())
}

pub fn role(ctx: &mut Ctx) -> CmdResult {
    crate::replication::info::role(ctx.state, ctx.reply);
    Ok(())
}

/// A small drawing of our own (Redis draws a different one per version).
const ART: &str = concat!(
    "     _._\n",
    "  .-'   '-.      redis-ha\n",
    " /  o   o  \\     one node, many roles\n",
    "|    ___    |\n",
    " \\  '---'  /\n",
    "  '-.___.-'\n",
);

pub fn lolwut(ctx: &mut Ctx) -> CmdResult {
    // LOLWUT [VERSION <n>] [art parameters...]: the version must be an
    // integer, the rest only shapes the art, which is always the same here.
    if ctx.argc() >= 3 && eq_ic(ctx.arg(1), "version") {
        int(ctx.arg(2))?;
    }
    let text = format!("{ART}\nRedis ver. {REDIS_VERSION}\n");
    ctx.reply.verbatim(text.as_bytes(), "txt");
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::server::client::ClientState;
    use crate::server::state::ServerState;
    use crate::server::test_support::{execute_words, StreamCapture};

    fn run(state: &mut ServerState, client: &mut ClientState, line: &str) -> Vec<u8> {
        let words: Vec<&str> = line.split(' ').collect();
        execute_words(state, client, &words).0
    }

    #[test]
    fn flushes_and_swapdb_are_propagated_verbatim() {
        let mut config = Config::default();
        config
            .apply_line("enable-debug-command", &["yes".into()], true)
            .unwrap();
        // No save points: FLUSHALL would otherwise write a dump.rdb here.
        config.apply_line("save", &["".into()], true).unwrap();
        let mut state = ServerState::new(config);
        let stream = StreamCapture::attach(&mut state);
        let mut client = ClientState::new(1, "127.0.0.1:1".into(), true);

        // An empty FLUSHALL still reaches replicas, as in Redis 7.0.
        assert_eq!(run(&mut state, &mut client, "FLUSHALL"), b"+OK\r\n");
        // DEBUG POPULATE is neither a change nor propagated.
        assert_eq!(run(&mut state, &mut client, "DEBUG POPULATE 3"), b"+OK\r\n");
        assert_eq!(state.dirty, 0);
        assert_eq!(run(&mut state, &mut client, "FLUSHDB ASYNC"), b"+OK\r\n");
        assert_eq!(state.dirty, 3);
        assert_eq!(run(&mut state, &mut client, "SWAPDB 0 1"), b"+OK\r\n");
        let text = String::from_utf8(stream.raw()).unwrap();
        assert_eq!(
            text,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$8\r\nFLUSHALL\r\n\
             *2\r\n$7\r\nFLUSHDB\r\n$5\r\nASYNC\r\n*3\r\n$6\r\nSWAPDB\r\n$1\r\n0\r\n$1\r\n1\r\n"
        );
    }
}
