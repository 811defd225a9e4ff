//! Redis's LFU access data, kept in `Entry.lru` under an LFU maxmemory
//! policy: the last decrement time in minutes (16 bits) above an 8-bit
//! logarithmic access counter.

use rand::Rng;

/// The counter of a new key, so it is not evicted before it had a chance
/// to be used (Redis's LFU_INIT_VAL).
pub const INIT_VAL: u32 = 5;

/// lfu-log-factor and lfu-decay-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LfuParams {
    pub log_factor: u32,
    pub decay_minutes: u32,
}

/// The 16-bit minute clock at `now_ms`.
pub fn minutes(now_ms: i64) -> u32 {
    ((now_ms.max(0) / 60_000) & 0xffff) as u32
}

/// Field of a newly created key.
pub fn initial_field(now_ms: i64) -> u32 {
    (minutes(now_ms) << 8) | INIT_VAL
}

/// Minutes since the field's timestamp, with the 16-bit clock wrapping.
fn elapsed_minutes(field: u32, now_minutes: u32) -> u32 {
    let last = (field >> 8) & 0xffff;
    if now_minutes >= last {
        now_minutes - last
    } else {
        65535 - last + now_minutes
    }
}

/// The counter after one decrement per elapsed decay period (0 = no decay).
pub fn decayed_counter(field: u32, now_ms: i64, decay_minutes: u32) -> u32 {
    let counter = field & 0xff;
    let periods = elapsed_minutes(field, minutes(now_ms))
        .checked_div(decay_minutes)
        .unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Logarithmic increment: the higher the counter, the less likely it grows
/// (probability 1 / ((counter - INIT_VAL) * log_factor + 1)); saturates at 255.
pub fn log_increment(counter: u32, log_factor: u32, rng: &mut impl Rng) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(INIT_VAL) as f64;
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if rng.gen::<f64>() < p {
        counter + 1
    } else {
        counter
    }
}

/// The field after an access: decay, increment, restamp.
pub fn on_access(field: u32, p: LfuParams, now_ms: i64, rng: &mut impl Rng) -> u32 {
    let counter = decayed_counter(field, now_ms, p.decay_minutes);
    let counter = log_increment(counter, p.log_factor, rng);
    (minutes(now_ms) << 8) | counter
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn new_keys_start_at_init_value() {
        assert_eq!(initial_field(100 * MIN) & 0xff, INIT_VAL);
        assert_eq!(initial_field(100 * MIN) >> 8, 100);
    }

    #[test]
    fn counter_decays_one_per_period() {
        let field = (100 << 8) | 20;
        assert_eq!(decayed_counter(field, 100 * MIN, 1), 20);
        assert_eq!(decayed_counter(field, 103 * MIN, 1), 17);
        assert_eq!(decayed_counter(field, 104 * MIN, 2), 18);
        assert_eq!(decayed_counter(field, 500 * MIN, 1), 0);
        assert_eq!(decayed_counter(field, 500 * MIN, 0), 20);
    }

    #[test]
    fn increments_become_rarer_and_saturate() {
        let mut rng = rand::thread_rng();
        // At or below the initial value the increment is certain.
        assert_eq!(log_increment(3, 10, &mut rng), 4);
        assert_eq!(log_increment(INIT_VAL, 10, &mut rng), INIT_VAL + 1);
        assert_eq!(log_increment(255, 0, &mut rng), 255);
        // With factor 0 every access counts.
        assert_eq!(log_increment(100, 0, &mut rng), 101);
        // 1000 accesses with factor 10 stay far below 1000 but clearly above init.
        let p = LfuParams {
            log_factor: 10,
            decay_minutes: 1,
        };
        let mut field = initial_field(0);
        for _ in 0..1000 {
            field = on_access(field, p, 0, &mut rng);
        }
        let c = field & 0xff;
        assert!((10..60).contains(&c), "counter {c}");
        // 1M accesses with factor 0 saturate.
        let p0 = LfuParams {
            log_factor: 0,
            decay_minutes: 1,
        };
        let mut field = initial_field(0);
        for _ in 0..300 {
            field = on_access(field, p0, 0, &mut rng);
        }
        assert_eq!(field & 0xff, 255);
    }

    #[test]
    fn access_after_idle_minutes_decays_first() {
        let mut rng = rand::thread_rng();
        let p = LfuParams {
            log_factor: 0,
            decay_minutes: 1,
        };
        let field = (10 << 8) | 30;
        let after = on_access(field, p, 20 * MIN, &mut rng);
        assert_eq!(after & 0xff, 21);
        assert_eq!(after >> 8, 20);
    }
}
