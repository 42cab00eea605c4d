/** The PKCS#11 backend against SoftHSM2: ECDH, generation, import, destruction (it refuses OAEP-SHA256). */
import { pkcs11BackendSuite } from './pkcs11-suite.js';

pkcs11BackendSuite('softhsm');
