"""The carrier simulator: Twilio's REST subset and its signed callbacks, on a local server."""
