use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::container_ref;

pub fn pause(global: &GlobalOpts, args: liboci_cli::Pause) -> Result<()> {
    container_ref::load(&global.root, &args.container_id)?.pause()?;
    Ok(())
}

pub fn resume(global: &GlobalOpts, args: liboci_cli::Resume) -> Result<()> {
    container_ref::load(&global.root, &args.container_id)?.resume()?;
    Ok(())
}
