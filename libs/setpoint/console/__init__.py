"""The web console (`setpoint run console`): a read-only, live view of the running system
in a browser. `views` (pure: what each page shows), `live` (the log followed, the status
heard, the browser streams), `web` (the aiohttp routes), `main` (the process), `static/`
(the page: plain JavaScript modules, shipped in the wheel)."""
