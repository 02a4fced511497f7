/**
 * Test helpers: an emulated Data Lake for anyone's tests.
 * @module
 */
export { VERSION } from './core/version.js';
