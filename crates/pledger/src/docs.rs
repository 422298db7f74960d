//! Documentation generated from the command line's own definitions: shell completions and man
//! pages, so they never disagree with `--help`.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::fail::{input, Result};

pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "pledger", &mut std::io::stdout().lock());
    Ok(())
}

/// Writes `pledger.1` and a page per command and subcommand (`pledger-import-iati.1`); prints
/// the files written.
pub fn man(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| input(format!("{}: {e}", dir.display())))?;
    let mut cmd = Cli::command();
    cmd.build();
    write_pages(&cmd, "pledger", dir)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let page = cmd.clone().name(name.to_owned());
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, roff).map_err(|e| input(format!("{}: {e}", path.display())))?;
    println!("{}", path.display());
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
