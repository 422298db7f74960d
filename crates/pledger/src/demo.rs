pub fn run(_g: &crate::cli::Global) -> crate::fail::Result<()> { Err(crate::fail::usage("demo: not yet")) }
