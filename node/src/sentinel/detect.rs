//! Failure detection: subjective down (no valid PING reply for
//! down-after-milliseconds, or a master that keeps reporting the slave
//! role) and objective down (quorum Sentinels agree, asked with
//! `SENTINEL is-master-down-by-addr`).

use super::instance::*;
use super::monitor::{lookup, Target};
use super::state::*;
use crate::log::Level;
use crate::resp::Frame;

/// sentinelCheckSubjectivelyDown.
pub fn check_sdown(ctx: &mut Ctx, inst: &mut Instance, at: &str, now: i64) {
    let elapsed = if inst.act_ping_time != 0 {
        now - inst.act_ping_time
    } else if inst.flags & DISCONNECTED != 0 {
        now - inst.last_avail_time
    } else {
        0
    };
    // A link that looks connected but carries no replies is reconnected.
    if inst.cc.connected
        && now - inst.cc.conn_time > ctx.timings.min_link_reconnect_period
        && inst.act_ping_time != 0
        && now - inst.act_ping_time > inst.down_after_period / 2
        && now - inst.last_pong_time > inst.down_after_period / 2
    {
        inst.cc.close();
        inst.flags |= DISCONNECTED;
    }
    if inst.pc.connected
        && now - inst.pc.conn_time > ctx.timings.min_link_reconnect_period
        && now - inst.pc.last_activity > ctx.timings.publish_period * 3
    {
        inst.pc.close();
        inst.flags |= DISCONNECTED;
    }
    let wrong_role = inst.is_master()
        && inst.role_reported == SLAVE
        && now - inst.role_reported_time > inst.down_after_period + ctx.timings.info_period * 2;
    let reboot_down = inst.is_master()
        && inst.master_reboot_down_after_period != 0
        && inst.master_reboot_since_time != 0
        && now - inst.master_reboot_since_time > inst.master_reboot_down_after_period
        && now - inst.last_avail_time > inst.master_reboot_down_after_period;
    if elapsed > inst.down_after_period || wrong_role || reboot_down {
        if inst.flags & S_DOWN == 0 {
            ctx.event(Level::Warning, "+sdown", inst, at, "");
            inst.s_down_since_time = now;
            inst.flags |= S_DOWN;
        }
    } else if inst.flags & S_DOWN != 0 {
        ctx.event(Level::Warning, "-sdown", inst, at, "");
        inst.flags &= !(S_DOWN | SCRIPT_KILL_SENT);
    }
    if inst.master_reboot_since_time != 0 && inst.last_avail_time > inst.master_reboot_since_time {
        inst.master_reboot_since_time = 0;
    }
}

/// sentinelCheckObjectivelyDown.
pub fn check_odown(ctx: &mut Ctx, master: &mut Instance, now: i64) {
    let mut votes = 0u32;
    let mut odown = false;
    if master.flags & S_DOWN != 0 {
        votes = 1 + master
            .sentinels
            .values()
            .filter(|s| s.flags & MASTER_DOWN != 0)
            .count() as u32;
        odown = votes >= master.quorum;
    }
    if odown {
        if master.flags & O_DOWN == 0 {
            ctx.event(
                Level::Warning,
                "+odown",
                master,
                "",
                &format!(" #quorum {}/{}", votes, master.quorum),
            );
            master.flags |= O_DOWN;
            master.o_down_since_time = now;
        }
    } else if master.flags & O_DOWN != 0 {
        ctx.event(Level::Warning, "-odown", master, "", "");
        master.flags &= !O_DOWN;
    }
}

/// While the master is SDOWN, asks every connected Sentinel whether it
/// agrees (and, during a failover, for its vote).
pub fn ask_other_sentinels(
    ctx: &mut Ctx,
    master: &mut Instance,
    forced: bool,
    ask_period: i64,
    now: i64,
) {
    let addr_ip = ctx.announce(&master.addr);
    let port = master.addr.port.to_string();
    let epoch = ctx.current_epoch.to_string();
    let runid = if master.failover_state > FailoverState::None {
        ctx.myid.clone()
    } else {
        "*".to_string()
    };
    for s in master.sentinels.values_mut() {
        if now - s.last_master_down_reply_time > INFO_VALIDITY_TIME {
            s.flags &= !MASTER_DOWN;
            s.leader = None;
        }
        if master.flags & S_DOWN == 0 || s.flags & DISCONNECTED != 0 {
            continue;
        }
        if !forced && now - s.last_master_down_reply_time < ask_period {
            continue;
        }
        s.cc.send(
            cmd(&[
                "SENTINEL",
                "is-master-down-by-addr",
                &addr_ip,
                &port,
                &epoch,
                &runid,
            ]),
            ReplyKind::IsMasterDown,
        );
    }
}

/// sentinelReceiveIsMasterDownReply: anything but `*3 :int $str :int` is ignored.
pub fn on_is_master_down_reply(s: &mut Sentinel, target: &Target, f: &Frame, now: i64) {
    let Some(inst) = lookup(s, target) else {
        return;
    };
    let Some(items) = f.items() else { return };
    if items.len() != 3 {
        return;
    }
    let (Frame::Integer(down), Some(leader), Frame::Integer(epoch)) =
        (&items[0], items[1].as_str(), &items[2])
    else {
        return;
    };
    if !matches!(items[1], Frame::Bulk(_)) {
        return;
    }
    inst.last_master_down_reply_time = now;
    if *down == 1 {
        inst.flags |= MASTER_DOWN;
    } else {
        inst.flags &= !MASTER_DOWN;
    }
    if leader != "*" {
        inst.leader = Some(leader.to_string());
        inst.leader_epoch = (*epoch).max(0) as u64;
    }
}
