use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::container_ref;

pub fn start(global: &GlobalOpts, args: liboci_cli::Start) -> Result<()> {
    let mut container = container_ref::load(&global.root, &args.container_id)?;
    container.start()?;
    Ok(())
}
