export { DebugConsole, PostCodePort, POST_CODE_PORT, DEBUG_CONSOLE_PORT, type DebugConsoleConfig } from './device.js';
export type { DebugPortState } from './persist.js';
