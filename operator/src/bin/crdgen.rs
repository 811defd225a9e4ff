//! Prints the RedisHA CustomResourceDefinition as YAML (`deploy/crd.yaml`).

fn main() {
    match redis_ha_operator::crd_yaml() {
        Ok(yaml) => print!("{yaml}"),
        Err(err) => {
            eprintln!("crdgen: cannot render the CRD: {err}");
            std::process::exit(1);
        }
    }
}
