//! A typed service's caller and implementation that do not match it do
//! not compile, and say why: each file of `tests/compile-fail/` with the
//! compiler's message in the `.stderr` beside it.

#[test]
fn mismatches_with_a_typed_service_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile-fail/*.rs");
}
