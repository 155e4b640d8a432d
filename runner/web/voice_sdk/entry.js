// The one thing the agent console needs from Twilio's Voice JS SDK: the Device, as
// window.TwilioVoice.Device. `make voice-sdk` bundles this into ../vendor/twilio-voice.min.js.
import { Device } from "@twilio/voice-sdk";

window.TwilioVoice = { Device };
