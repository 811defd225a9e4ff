#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    redis_ha_node::rdb::fuzz_decode(data);
});
