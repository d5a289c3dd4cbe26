module campuspki/peers

go 1.19
