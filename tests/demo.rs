//! The embedded demo runs end to end on librdkafka's in-process mock cluster: no broker.

#[test]
fn demo_runs_without_a_broker() {
    tailwatch::demo::run(20, 20 * 60, 3).expect("demo completes");
}
