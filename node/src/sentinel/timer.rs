//! The Sentinel's periodic work (sentinelTimer), run about ten times a
//! second: TILT check, links, PING/INFO/hello, SDOWN/ODOWN, failovers.

use super::detect;
use super::failover;
use super::instance::*;
use super::monitor;
use super::state::*;
use crate::log::Level;
use crate::util::time::now_ms;

/// Enters TILT when the clock jumped backwards or too far forward since the
/// last tick (the process was stopped, or the clock was changed).
fn check_tilt(ctx: &mut Ctx, now: i64) {
    let delta = now - ctx.previous_time;
    if !(0..=ctx.timings.tilt_trigger).contains(&delta) {
        ctx.tilt = true;
        ctx.tilt_start_time = now;
        ctx.event_text(Level::Warning, "+tilt", "#tilt mode entered");
    }
    ctx.previous_time = now;
}

fn master_auth(m: &Instance) -> (Option<String>, Option<String>) {
    (m.auth_user.clone(), m.auth_pass.clone())
}

fn sentinel_auth(ctx: &Ctx) -> (Option<String>, Option<String>) {
    match &ctx.settings.sentinel_pass {
        Some(p) => (ctx.settings.sentinel_user.clone(), Some(p.clone())),
        None => (None, ctx.requirepass.clone()),
    }
}

pub fn tick(s: &mut Sentinel) {
    let now = now_ms();
    check_tilt(&mut s.ctx, now);
    let acting = if s.ctx.tilt {
        if now - s.ctx.tilt_start_time >= s.ctx.timings.tilt_period {
            s.ctx.tilt = false;
            s.ctx
                .event_text(Level::Warning, "-tilt", "#tilt mode exited");
            true
        } else {
            false
        }
    } else {
        true
    };
    let mut switch = Vec::new();
    let Sentinel { masters, ctx } = s;
    for (name, master) in masters.iter_mut() {
        handle_master(ctx, master, acting, now);
        let at = at_master(master, ctx.settings.announce_hostnames);
        let auth = master_auth(master);
        let view = monitor::MasterView::of(master);
        let mut replicas = std::mem::take(&mut master.replicas);
        for r in replicas.values_mut() {
            monitor::reconnect(ctx, r, name, auth.clone());
            monitor::send_periodic(ctx, r, &view, now);
            if acting {
                detect::check_sdown(ctx, r, &at, now);
            }
        }
        master.replicas = replicas;
        let sauth = sentinel_auth(ctx);
        let mut sentinels = std::mem::take(&mut master.sentinels);
        for x in sentinels.values_mut() {
            monitor::reconnect(ctx, x, name, sauth.clone());
            monitor::send_periodic(ctx, x, &view, now);
            if acting {
                detect::check_sdown(ctx, x, &at, now);
            }
        }
        master.sentinels = sentinels;
        if master.failover_state == FailoverState::UpdateConfig {
            switch.push(name.clone());
        }
    }
    for name in switch {
        if let Some(m) = masters.get_mut(&name) {
            failover::switch_to_promoted(ctx, m);
        }
    }
    ctx.scripts.tick(&mut ctx.events, now);
    s.flush_if_dirty();
}

fn handle_master(ctx: &mut Ctx, master: &mut Instance, acting: bool, now: i64) {
    let name = master.name.clone();
    monitor::reconnect(ctx, master, &name, master_auth(master));
    let view = monitor::MasterView::of(master);
    monitor::send_periodic(ctx, master, &view, now);
    if !acting {
        return;
    }
    detect::check_sdown(ctx, master, "", now);
    detect::check_odown(ctx, master, now);
    if failover::start_if_needed(ctx, master, now) {
        let ask = ctx.timings.ask_period;
        detect::ask_other_sentinels(ctx, master, true, ask, now);
    }
    failover::step(ctx, master, now);
    // While we alone see the master down, ask the others every tick rather
    // than every second: ODOWN (and the failover) then follows as soon as
    // enough peers agree. Redis asks every second; the answers and the
    // rules are the same, only sooner.
    let ask_period = if master.flags & (S_DOWN | O_DOWN) == S_DOWN {
        FAST_ASK_PERIOD.min(ctx.timings.ask_period)
    } else {
        ctx.timings.ask_period
    };
    detect::ask_other_sentinels(ctx, master, false, ask_period, now);
}
