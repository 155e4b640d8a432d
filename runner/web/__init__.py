"""The aiohttp app: auth, pages, the JSON API, the agent console; ``runner.web.app`` wires it."""
