//! `schema.graphql` is exactly what `clientele export-schema` prints.

#[test]
fn schema_graphql_matches_the_served_schema() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is missing: run `cargo run -- export-schema > schema.graphql`");
    let served = clientele::graphql::sdl();
    assert!(
        committed == served,
        "schema.graphql differs from the served schema: run `cargo run -- export-schema > schema.graphql`"
    );
}

#[test]
fn export_schema_prints_the_sdl() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_clientele"))
        .arg("export-schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        clientele::graphql::sdl()
    );
}
