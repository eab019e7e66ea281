//! Compiles `proto/tailwatch/v1/*.proto` with prost and pbjson, using protox so no system
//! `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/tailwatch/v1/telemetry.proto",
        "proto/tailwatch/v1/roadside.proto",
        "proto/tailwatch/v1/registry.proto",
        "proto/tailwatch/v1/enforcement.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out.join("tailwatch_descriptor.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;

    prost_build::Config::new()
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types")
        .btree_map(["."])
        .compile_fds(descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&std::fs::read(&descriptor_path)?)?
        .preserve_proto_field_names()
        .btree_map(["."])
        .build(&[".tailwatch"])?;
    Ok(())
}
