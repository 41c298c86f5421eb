//! The built-in pack loads, and every rule passes its positive and negative tests.

use picket_detect::RuleSet;

#[test]
fn builtin_pack_loads_and_its_tests_pass() {
    let set = match RuleSet::builtin() {
        Ok(set) => set,
        Err(rejected) => {
            for p in &rejected.problems {
                eprintln!("{p}");
            }
            panic!("built-in pack refused");
        }
    };
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    assert!(set.rule_count() >= 10);
    assert!(set.correlation_count() >= 5);
    assert!(set.test_count() >= 2 * (set.rule_count() + set.correlation_count()));
}
