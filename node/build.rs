// Builds the tiny C helper that gives byte-identical float parsing and
// formatting to Redis (strtod/strtold and printf's %.17g / %.17Lf), which
// Rust's own float formatting cannot reproduce (no `long double`).
fn main() {
    println!("cargo:rerun-if-changed=src/util/cfloat.c");
    cc::Build::new()
        .file("src/util/cfloat.c")
        .flag_if_supported("-O2")
        .compile("rhcfloat");
}
