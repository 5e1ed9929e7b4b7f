//! Links the `crmlake` executable as a non-PIE (position-dependent)
//! program.
//!
//! Why: as a PIE, every `crmlake` process spent 11–14 ms of its start-up (as
//! long as a P(alive) query over a million customers) in the dynamic loader,
//! applying 314,498 relative relocations to the 234 MB binary and taking
//! the copy-on-write page faults that writing them causes. `perf` on
//! `crmlake sql -c 'SELECT 1'` put two thirds of the process's page faults
//! in `_dl_relocate_object`. In a non-PIE executable the linker fixes
//! those addresses. Packing the relocations (`-z pack-relative-relocs`,
//! still PIE) was tried: the table shrinks from 7.5 MB to 84 KB, but the
//! page faults stay and start-up hardly moved.
//!
//! The code itself is unchanged (still compiled position-independent); only
//! the final link of the executable differs. The cost: the executable's own
//! code is not loaded at a random address (shared libraries, heap and stack
//! still are). Libraries (the Python extension, this crate as a dependency)
//! are not affected.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
