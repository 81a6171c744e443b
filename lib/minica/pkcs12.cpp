// placeholder (PKCS#12 export, being written)
