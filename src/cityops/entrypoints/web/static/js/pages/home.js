// The start page: links to the screens (rendered by the server from the page registry).
import { initI18n } from "../i18n.js";
import { langButton } from "../ui.js";

await initI18n();
document.querySelector("main.home").append(langButton());
