//! One application: its details, a synchronous run, and input checks.

use crate::client::{Client, RunStream};
use crate::error::{Error, Result};
use crate::model::{Application, Inputs, Output, validate_inputs};

/// An application, by id.
#[derive(Clone, Debug)]
pub struct App {
    client: Client,
    app_id: String,
}

impl Client {
    /// The application `app_id`.
    ///
    /// ```no_run
    /// # async fn demo(client: writer_jobs::Client) -> writer_jobs::Result<()> {
    /// use writer_jobs::Inputs;
    /// let app = client.app("my-app-id");
    /// let inputs = Inputs::new().text("Product name", "Terra");
    /// app.validate(&inputs).await?; // Error::InvalidInputs lists every problem
    /// let output = app.run(&inputs).await?;
    /// println!("{}", output.suggestion);
    /// # Ok(()) }
    /// ```
    pub fn app(&self, app_id: impl Into<String>) -> App {
        App {
            client: self.clone(),
            app_id: app_id.into(),
        }
    }
}

impl App {
    /// The application's id.
    pub fn id(&self) -> &str {
        &self.app_id
    }

    /// The application's name, type, status and input definitions.
    pub async fn details(&self) -> Result<Application> {
        self.client.get_application(&self.app_id).await
    }

    /// Runs the application synchronously with `inputs`.
    pub async fn run(&self, inputs: &Inputs) -> Result<Output> {
        self.client.run_application(&self.app_id, inputs).await
    }

    /// Runs the application synchronously with `inputs` and `stream: true`
    /// (research applications), yielding the output text as the server
    /// sends it. The request is retried like [`run`](Self::run) until the
    /// stream opens, never after; an error ends the stream.
    ///
    /// ```no_run
    /// # async fn demo(client: writer_jobs::Client) -> writer_jobs::Result<()> {
    /// use futures::StreamExt;
    /// use writer_jobs::Inputs;
    /// let app = client.app("my-research-app");
    /// let mut chunks = app.run_stream(&Inputs::new().text("Query", "Trail shoes"));
    /// while let Some(chunk) = chunks.next().await {
    ///     print!("{}", chunk?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn run_stream(&self, inputs: &Inputs) -> RunStream {
        self.client.run_application_stream(&self.app_id, inputs)
    }

    /// Fetches the details and checks `inputs` against them:
    /// [`Error::InvalidInputs`] lists every problem found.
    pub async fn validate(&self, inputs: &Inputs) -> Result<Application> {
        let app = self.details().await?;
        validate_inputs(&app, inputs).map_err(Error::InvalidInputs)?;
        Ok(app)
    }
}
