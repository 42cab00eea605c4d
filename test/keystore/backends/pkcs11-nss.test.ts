/** The PKCS#11 backend against NSS's softoken: every operation, OAEP-SHA256 included. */
import { pkcs11BackendSuite } from './pkcs11-suite.js';

pkcs11BackendSuite('nss');
