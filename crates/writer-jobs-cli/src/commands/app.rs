//! `app ID`: an application's details and the inputs it takes.

use writer_jobs::Application;

use crate::embedded::Target;
use crate::exit::{CliError, Code};
use crate::render;

/// Fetches and prints the application's details.
pub async fn show(target: &Target, json: bool, app_id: Option<&str>) -> Result<Code, CliError> {
    let (_, app) = fetch(target, app_id).await?;
    if json {
        render::json(&app)?;
    } else {
        print!("{}", render::app_text(&app));
    }
    Ok(Code::Ok)
}

/// The application to use (see [`Target::app_id`]): its id and details.
pub async fn fetch(
    target: &Target,
    app_id: Option<&str>,
) -> Result<(String, Application), CliError> {
    let app_id = target.app_id(app_id)?;
    let app = target
        .client
        .app(&app_id)
        .details()
        .await
        .map_err(|e| CliError::context(format!("cannot fetch application {app_id}"), e))?;
    Ok((app_id, app))
}
