// ESAP shopping-basket items (`Basket.normalise`): the whole input as a basket (JSON), and the input as one item's
// `item_data` string (the Python-literal / JSON text ESAP stores there).
import Foundation
import FuzzSupport
import SkyportCore

Fuzz.run { data in
    if let basket = try? JSONValue.parse(data) {
        _ = try? Basket.normalise(basket)
        _ = try? Basket.normalise(.array([.object(["item_data": basket])]))
    }
    let text = Fuzz.text(data)
    _ = try? Basket.normalise(.array([.object(["item_data": .string(text)])]))
}
