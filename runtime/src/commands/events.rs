use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::container_ref;

pub fn events(global: &GlobalOpts, args: liboci_cli::Events) -> Result<()> {
    if args.interval == 0 {
        anyhow::bail!("duration 0s must be greater than 0");
    }
    container_ref::load(&global.root, &args.container_id)?.events(args.interval, args.stats)?;
    Ok(())
}
