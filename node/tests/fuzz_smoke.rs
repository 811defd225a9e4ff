//! Bounded random-input runs of the fuzz entry points, so every CI run
//! exercises them even without cargo-fuzz. Inputs mix random bytes with
//! mutated valid commands, which reach deeper into the dispatcher.

use rand::{Rng, SeedableRng};
use redis_ha_node::fuzzing;
use redis_ha_node::resp::Frame;

const WORDS: &[&str] = &[
    "SET",
    "GET",
    "DEL",
    "LPUSH",
    "RPOP",
    "LRANGE",
    "HSET",
    "HGETALL",
    "SADD",
    "SPOP",
    "ZADD",
    "ZRANGE",
    "INCR",
    "INCRBYFLOAT",
    "EXPIRE",
    "SCAN",
    "MULTI",
    "EXEC",
    "WATCH",
    "SUBSCRIBE",
    "SORT",
    "BLPOP",
    "ZUNIONSTORE",
    "SETRANGE",
    "BITCOUNT",
    "LPOS",
    "OBJECT",
    "COPY",
    "HELLO",
    "CLIENT",
    "INFO",
];
const ARGS: &[&str] = &[
    "k",
    "0",
    "-1",
    "1e400",
    "nan",
    "inf",
    "(1",
    "[a",
    "-",
    "+",
    "WITHSCORES",
    "LIMIT",
    "99999999999999999999",
    "",
    "COUNT",
    "EX",
    "REV",
    "BYSCORE",
];

fn random_command(rng: &mut impl Rng) -> Vec<u8> {
    let mut args = vec![WORDS[rng.gen_range(0..WORDS.len())].to_string()];
    for _ in 0..rng.gen_range(0..7) {
        args.push(ARGS[rng.gen_range(0..ARGS.len())].to_string());
    }
    Frame::encode_command(&args)
}

#[test]
fn parsers_and_dispatcher_survive_random_input() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut target = fuzzing::DispatchTarget::default();
    for round in 0..3000 {
        let mut data = Vec::new();
        for _ in 0..rng.gen_range(1..6) {
            data.extend(random_command(&mut rng));
        }
        // Flip some bytes of every other input.
        if round % 2 == 1 {
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..data.len());
                data[i] = rng.gen();
            }
        }
        fuzzing::request_parser(&data);
        fuzzing::frame_parser(&data);
        target.run(&data);
        let noise: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
        fuzzing::request_parser(&noise);
        fuzzing::frame_parser(&noise);
        fuzzing::dispatch(&noise);
    }
}
