/**
 * The PKCS#11 binding (pkcs11js, a CommonJS native addon) as an ES module import, with the few names
 * this backend uses. Only this file imports it, so the native addon loads only when a token is used.
 */
import pkcs11js from 'pkcs11js';

export type Pkcs11 = pkcs11js.PKCS11;
export type Handle = pkcs11js.Handle;
export type Template = pkcs11js.Template;
export type Mechanism = pkcs11js.Mechanism;
export type RsaOaepParams = pkcs11js.RsaOAEP;
export type EcdhParams = pkcs11js.ECDH1;
/** CK_SESSION_INFO.state of a read/write session with the user logged in (not among the binding's constants). */
export const CKS_RW_USER_FUNCTIONS = 3;
export const { PKCS11, Pkcs11Error, NativeError } = pkcs11js;
export { pkcs11js as ck };
