//! The failover state machine (wait-start, select-slave,
//! send-slaveof-noone, wait-promotion, reconf-slaves, update-config) and
//! replica selection.

use rand::Rng;

use super::election::{self, Vote};
use super::instance::*;
use super::monitor::{force_hello, send_slaveof};
use super::state::*;
use crate::log::Level;

/// What selection needs to know about one replica.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub name: &'a str,
    pub flags: u32,
    pub last_avail_time: i64,
    pub info_refresh: i64,
    pub master_link_down_time: i64,
    pub priority: i64,
    pub repl_offset: u64,
    pub runid: Option<&'a str>,
}

/// sentinelSelectSlave, as a pure function: drops unusable replicas, then
/// orders by lowest priority, largest offset, smallest run id (missing run
/// ids last).
pub fn select_replica<'a>(
    candidates: &[Candidate<'a>],
    master_sdown_since: Option<i64>,
    down_after: i64,
    info_period: i64,
    now: i64,
) -> Option<&'a str> {
    let mut max_master_down_time = 0;
    if let Some(since) = master_sdown_since {
        max_master_down_time += now - since;
    }
    max_master_down_time += down_after * 10;
    let mut ok: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| {
            let mut validity = now - INFO_VALIDITY_TIME;
            if c.flags & (S_DOWN | O_DOWN | DISCONNECTED) != 0 {
                return false;
            }
            if c.last_avail_time < validity || c.priority == 0 {
                return false;
            }
            if master_sdown_since.is_none() {
                validity -= info_period;
            }
            c.info_refresh >= validity && c.master_link_down_time <= max_master_down_time
        })
        .collect();
    ok.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.repl_offset.cmp(&a.repl_offset))
            .then_with(|| match (a.runid, b.runid) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
            })
    });
    ok.first().map(|c| c.name)
}

/// The replica this master would promote now.
pub fn choose_replica(master: &Instance, info_period: i64, now: i64) -> Option<String> {
    let cands: Vec<Candidate> = master
        .replicas
        .values()
        .map(|r| Candidate {
            name: &r.name,
            flags: r.flags,
            last_avail_time: r.last_avail_time,
            info_refresh: r.info_refresh,
            master_link_down_time: r.master_link_down_time,
            priority: r.slave_priority,
            repl_offset: r.slave_repl_offset,
            runid: r.runid.as_deref(),
        })
        .collect();
    let sdown = (master.flags & S_DOWN != 0).then_some(master.s_down_since_time);
    select_replica(&cands, sdown, master.down_after_period, info_period, now).map(str::to_string)
}

/// sentinelVoteLeader with events and an immediate config flush, so a vote
/// is on disk before it is answered.
pub fn vote_leader(
    s_ctx: &mut Ctx,
    master: &mut Instance,
    req_epoch: u64,
    req_runid: &str,
    now: i64,
) -> (Option<String>, u64) {
    let mut v = Vote {
        leader: master.leader.clone(),
        leader_epoch: master.leader_epoch,
    };
    let out = election::vote(&mut s_ctx.current_epoch, &mut v, req_epoch, req_runid);
    if let Some(e) = out.new_epoch {
        s_ctx.config_dirty = true;
        s_ctx.event_master_text(Level::Warning, "+new-epoch", &master.name, &e.to_string());
    }
    if out.voted {
        master.leader = v.leader.clone();
        master.leader_epoch = v.leader_epoch;
        s_ctx.config_dirty = true;
        s_ctx.event_master_text(
            Level::Warning,
            "+vote-for-leader",
            &master.name,
            &format!("{} {}", req_runid, v.leader_epoch),
        );
        // Voting for someone else delays our own attempt a little, so the
        // Sentinels do not all start at once.
        if !req_runid.eq_ignore_ascii_case(&s_ctx.myid) {
            master.failover_start_time = now + rand::thread_rng().gen_range(0..MAX_DESYNC);
        }
    }
    (master.leader.clone(), master.leader_epoch)
}

/// sentinelGetLeader: the winner of `epoch`, casting our own vote first.
fn get_leader(ctx: &mut Ctx, master: &mut Instance, epoch: u64, now: i64) -> Option<String> {
    let others: Vec<String> = master
        .sentinels
        .values()
        .filter(|s| s.leader_epoch == ctx.current_epoch)
        .filter_map(|s| s.leader.clone())
        .collect();
    let refs: Vec<&str> = others.iter().map(String::as_str).collect();
    let most = election::most_voted(refs.iter().copied()).map(|(r, _)| r);
    let want = most.unwrap_or_else(|| ctx.myid.clone());
    let (my_vote, my_epoch) = vote_leader(ctx, master, epoch, &want, now);
    let my_vote = my_vote.filter(|_| my_epoch == epoch);
    let voters = master.sentinels.len() + 1;
    election::winner(&refs, my_vote.as_deref(), voters, master.quorum)
}

pub fn start_failover(ctx: &mut Ctx, master: &mut Instance, now: i64) {
    master.failover_state = FailoverState::WaitStart;
    master.flags |= FAILOVER_IN_PROGRESS;
    ctx.current_epoch += 1;
    master.failover_epoch = ctx.current_epoch;
    ctx.config_dirty = true;
    let epoch = ctx.current_epoch.to_string();
    ctx.event_master_text(Level::Warning, "+new-epoch", &master.name, &epoch);
    ctx.event(Level::Warning, "+try-failover", master, "", "");
    master.failover_start_time = now + rand::thread_rng().gen_range(0..MAX_DESYNC);
    master.failover_state_change_time = now;
}

/// sentinelStartFailoverIfNeeded.
pub fn start_if_needed(ctx: &mut Ctx, master: &mut Instance, now: i64) -> bool {
    if master.flags & O_DOWN == 0 || master.flags & FAILOVER_IN_PROGRESS != 0 {
        return false;
    }
    if now - master.failover_start_time < master.failover_timeout * 2 {
        if master.failover_delay_logged != master.failover_start_time {
            master.failover_delay_logged = master.failover_start_time;
            let at = master.failover_start_time + master.failover_timeout * 2;
            crate::warning!(
                "Next failover delay: I will not start a failover before {}",
                format_clock(at)
            );
        }
        return false;
    }
    start_failover(ctx, master, now);
    true
}

fn format_clock(ms: i64) -> String {
    let secs = (ms / 1000) as libc::time_t;
    // SAFETY: localtime_r/strftime write only into buffers we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%a %b %e %H:%M:%S %Y".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

pub fn abort_failover(master: &mut Instance, now: i64) {
    master.flags &= !(FAILOVER_IN_PROGRESS | FORCE_FAILOVER);
    master.failover_state = FailoverState::None;
    master.failover_state_change_time = now;
    if let Some(p) = master.promoted_slave.take() {
        if let Some(r) = master.replicas.get_mut(&p) {
            r.flags &= !PROMOTED;
        }
    }
}

fn set_state(master: &mut Instance, st: FailoverState, now: i64) {
    master.failover_state = st;
    master.failover_state_change_time = now;
}

/// One step of the state machine (sentinelFailoverStateMachine).
pub fn step(ctx: &mut Ctx, master: &mut Instance, now: i64) {
    if master.flags & FAILOVER_IN_PROGRESS == 0 {
        return;
    }
    match master.failover_state {
        FailoverState::WaitStart => wait_start(ctx, master, now),
        FailoverState::SelectSlave => select_slave(ctx, master, now),
        FailoverState::SendSlaveofNoone => send_slaveof_noone(ctx, master, now),
        FailoverState::WaitPromotion => {
            if now - master.failover_state_change_time > master.failover_timeout {
                ctx.event(
                    Level::Warning,
                    "-failover-abort-slave-timeout",
                    master,
                    "",
                    "",
                );
                abort_failover(master, now);
            }
        }
        FailoverState::ReconfSlaves => reconf_next_slave(ctx, master, now),
        FailoverState::None | FailoverState::UpdateConfig => {}
    }
}

fn wait_start(ctx: &mut Ctx, master: &mut Instance, now: i64) {
    let leader = get_leader(ctx, master, master.failover_epoch, now);
    let is_leader = leader
        .as_deref()
        .is_some_and(|l| l.eq_ignore_ascii_case(&ctx.myid));
    if !is_leader && master.flags & FORCE_FAILOVER == 0 {
        let timeout = ctx.timings.election_timeout.min(master.failover_timeout);
        if now - master.failover_start_time > timeout {
            ctx.event(
                Level::Warning,
                "-failover-abort-not-elected",
                master,
                "",
                "",
            );
            abort_failover(master, now);
        }
        return;
    }
    ctx.event(Level::Warning, "+elected-leader", master, "", "");
    if ctx.simulate_failure & SIMFAILURE_CRASH_AFTER_ELECTION != 0 {
        crate::warning!("Simulated crash after election (SENTINEL SIMULATE-FAILURE)");
        std::process::exit(99);
    }
    set_state(master, FailoverState::SelectSlave, now);
    ctx.event(
        Level::Warning,
        "+failover-state-select-slave",
        master,
        "",
        "",
    );
    // Go on at once: every tick saved shortens the outage.
    select_slave(ctx, master, now);
}

fn select_slave(ctx: &mut Ctx, master: &mut Instance, now: i64) {
    let Some(name) = choose_replica(master, ctx.timings.info_period, now) else {
        ctx.event(
            Level::Warning,
            "-failover-abort-no-good-slave",
            master,
            "",
            "",
        );
        abort_failover(master, now);
        return;
    };
    let at = at_master(master, ctx.settings.announce_hostnames);
    if let Some(r) = master.replicas.get_mut(&name) {
        ctx.event(Level::Warning, "+selected-slave", r, &at, "");
        r.flags |= PROMOTED;
        master.promoted_slave = Some(name.clone());
        set_state(master, FailoverState::SendSlaveofNoone, now);
        if let Some(r) = master.replicas.get(&name) {
            ctx.event(
                Level::Notice,
                "+failover-state-send-slaveof-noone",
                r,
                &at,
                "",
            );
        }
        send_slaveof_noone(ctx, master, now);
    }
}

fn send_slaveof_noone(ctx: &mut Ctx, master: &mut Instance, now: i64) {
    let at = at_master(master, ctx.settings.announce_hostnames);
    let Some(name) = master.promoted_slave.clone() else {
        abort_failover(master, now);
        return;
    };
    let renames = master.rename_commands.clone();
    let Some(r) = master.replicas.get_mut(&name) else {
        abort_failover(master, now);
        return;
    };
    if r.flags & DISCONNECTED != 0 {
        if now - master.failover_state_change_time > master.failover_timeout {
            ctx.event(
                Level::Warning,
                "-failover-abort-slave-timeout",
                master,
                "",
                "",
            );
            abort_failover(master, now);
        }
        return;
    }
    if !send_slaveof(r, None, &renames) {
        return;
    }
    ctx.event(Level::Notice, "+failover-state-wait-promotion", r, &at, "");
    set_state(master, FailoverState::WaitPromotion, now);
}

/// The promoted replica reports role:master: the failover is now ours to
/// finish (called from INFO processing).
pub fn promoted(ctx: &mut Ctx, master: &mut Instance, r: &mut Instance, at: &str, now: i64) {
    master.config_epoch = master.failover_epoch;
    set_state(master, FailoverState::ReconfSlaves, now);
    ctx.config_dirty = true;
    ctx.event(Level::Warning, "+promoted-slave", r, at, "");
    if ctx.simulate_failure & SIMFAILURE_CRASH_AFTER_PROMOTION != 0 {
        crate::warning!("Simulated crash after promotion (SENTINEL SIMULATE-FAILURE)");
        std::process::exit(99);
    }
    ctx.event(
        Level::Warning,
        "+failover-state-reconf-slaves",
        master,
        "",
        "",
    );
    let (from, to) = (master.addr.clone(), r.addr.clone());
    ctx.client_reconfig(master, true, &from, &to);
    // Reconfiguration and hellos happen at the next tick (replicas are
    // being walked by our caller right now).
    master.last_pub_time = 0;
}

fn reconf_next_slave(ctx: &mut Ctx, master: &mut Instance, now: i64) {
    let Some(promoted_name) = master.promoted_slave.clone() else {
        return;
    };
    let Some(paddr) = master.replicas.get(&promoted_name).map(|p| p.addr.clone()) else {
        return;
    };
    if master.last_pub_time == 0 {
        // Just promoted: tell everybody the new configuration at once.
        master.last_pub_time = now;
        force_hello(ctx, master);
    }
    let host = ctx.announce(&paddr);
    let at = at_master(master, ctx.settings.announce_hostnames);
    let renames = master.rename_commands.clone();
    let mut in_progress = master
        .replicas
        .values()
        .filter(|r| r.flags & (RECONF_SENT | RECONF_INPROG) != 0)
        .count() as i64;
    for r in master.replicas.values_mut() {
        if in_progress >= master.parallel_syncs {
            break;
        }
        if r.flags & (PROMOTED | RECONF_DONE) != 0 {
            continue;
        }
        if r.flags & RECONF_SENT != 0
            && now - r.slave_reconf_sent_time > ctx.timings.slave_reconf_timeout
        {
            ctx.event(Level::Notice, "-slave-reconf-sent-timeout", r, &at, "");
            r.flags &= !RECONF_SENT;
            r.flags |= RECONF_DONE;
        }
        if r.flags & (DISCONNECTED | RECONF_SENT | RECONF_INPROG | RECONF_DONE) != 0 {
            continue;
        }
        if send_slaveof(r, Some((&host, paddr.port)), &renames) {
            r.flags |= RECONF_SENT;
            r.slave_reconf_sent_time = now;
            ctx.event(Level::Notice, "+slave-reconf-sent", r, &at, "");
            in_progress += 1;
        }
    }
    detect_end(ctx, master, &host, paddr.port, now);
}

/// sentinelFailoverDetectEnd.
fn detect_end(ctx: &mut Ctx, master: &mut Instance, host: &str, port: u16, now: i64) {
    let Some(pname) = master.promoted_slave.clone() else {
        return;
    };
    if master
        .replicas
        .get(&pname)
        .is_none_or(|p| p.flags & S_DOWN != 0)
    {
        return;
    }
    let mut not_reconfigured = master
        .replicas
        .values()
        .filter(|r| r.flags & (PROMOTED | RECONF_DONE) == 0 && r.flags & S_DOWN == 0)
        .count();
    let mut timeout = false;
    if now - master.failover_state_change_time > master.failover_timeout {
        not_reconfigured = 0;
        timeout = true;
        ctx.event(Level::Warning, "+failover-end-for-timeout", master, "", "");
    }
    if not_reconfigured == 0 {
        ctx.event(Level::Warning, "+failover-end", master, "", "");
        set_state(master, FailoverState::UpdateConfig, now);
    }
    if timeout {
        let at = at_master(master, ctx.settings.announce_hostnames);
        let renames = master.rename_commands.clone();
        for r in master.replicas.values_mut() {
            if r.flags & (RECONF_DONE | RECONF_SENT | DISCONNECTED | PROMOTED) != 0 {
                continue;
            }
            if send_slaveof(r, Some((host, port)), &renames) {
                ctx.event(Level::Notice, "+slave-reconf-sent-be", r, &at, "");
                r.flags |= RECONF_SENT;
            }
        }
    }
}

/// UPDATE_CONFIG: the promoted replica becomes the master
/// (sentinelFailoverSwitchToPromotedSlave).
pub fn switch_to_promoted(ctx: &mut Ctx, master: &mut Instance) {
    let (host, port) = match master
        .promoted_slave
        .as_ref()
        .and_then(|p| master.replicas.get(p))
    {
        Some(p) => (p.addr.hostname.clone(), p.addr.port),
        None => (master.addr.hostname.clone(), master.addr.port),
    };
    let old = (ctx.announce(&master.addr), master.addr.port);
    let new_ip = master
        .promoted_slave
        .as_ref()
        .and_then(|p| master.replicas.get(p))
        .map(|p| ctx.announce(&p.addr))
        .unwrap_or_else(|| old.0.clone());
    ctx.event_master_text(
        Level::Warning,
        "+switch-master",
        &master.name,
        &format!("{} {} {} {} {}", master.name, old.0, old.1, new_ip, port),
    );
    reset_master_and_change_address(ctx, master, &host, port);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(
        name: &'static str,
        prio: i64,
        off: u64,
        runid: Option<&'static str>,
    ) -> Candidate<'static> {
        Candidate {
            name,
            flags: SLAVE,
            last_avail_time: 10_000,
            info_refresh: 10_000,
            master_link_down_time: 0,
            priority: prio,
            repl_offset: off,
            runid,
        }
    }

    #[test]
    fn orders_by_priority_offset_runid() {
        let now = 10_500;
        let c = vec![
            cand("a", 100, 5, Some("b")),
            cand("b", 50, 1, Some("c")),
            cand("c", 100, 9, Some("a")),
        ];
        assert_eq!(
            select_replica(&c, Some(9000), 1000, INFO_PERIOD, now),
            Some("b")
        );
        let c = vec![cand("a", 100, 5, Some("b")), cand("c", 100, 9, Some("z"))];
        assert_eq!(
            select_replica(&c, Some(9000), 1000, INFO_PERIOD, now),
            Some("c")
        );
        let c = vec![
            cand("a", 100, 9, Some("B")),
            cand("c", 100, 9, Some("a")),
            cand("d", 100, 9, None),
        ];
        assert_eq!(
            select_replica(&c, Some(9000), 1000, INFO_PERIOD, now),
            Some("c")
        );
    }

    #[test]
    fn skips_unusable_replicas() {
        let now = 10_500;
        let mut down = cand("down", 1, 100, Some("a"));
        down.flags |= S_DOWN;
        let mut disc = cand("disc", 1, 100, Some("a"));
        disc.flags |= DISCONNECTED;
        let zero = cand("zero", 0, 100, Some("a"));
        let mut stale = cand("stale", 1, 100, Some("a"));
        stale.last_avail_time = 1000;
        let mut old_info = cand("old", 1, 100, Some("a"));
        old_info.info_refresh = 1000;
        let mut link_down = cand("link", 1, 100, Some("a"));
        link_down.master_link_down_time = 1_000_000;
        let fine = cand("fine", 100, 0, None);
        let all = vec![down, disc, zero, stale, old_info, link_down, fine];
        assert_eq!(
            select_replica(&all, Some(9000), 1000, INFO_PERIOD, now),
            Some("fine")
        );
        assert_eq!(
            select_replica(&all[..6], Some(9000), 1000, INFO_PERIOD, now),
            None
        );
    }
}
