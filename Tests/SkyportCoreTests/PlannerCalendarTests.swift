import Foundation
import Testing
@testable import SkyportCore

@Suite struct PlannerCalendarTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static func at(_ s: Double) -> Date { t0.addingTimeInterval(s) }
    static func booking(_ from: Double, _ to: Double, cores: Int, memory: Int = 0) -> Booking {
        Booking(facility: FacilityID("f"), cores: cores, memory: memory, start: at(from), end: at(to))
    }

    let cap = FacilityCapacity(cores: 8, memory: 32)

    @Test func freeCapacityIsTheWorstInstantOfTheSpan() {
        let cal = CapacityCalendar(capacity: cap, bookings: [Self.booking(0, 100, cores: 3, memory: 4), Self.booking(50, 150, cores: 2, memory: 20)])
        #expect(cal.free(from: Self.at(0), to: Self.at(50)) == FacilityCapacity(cores: 5, memory: 28))
        #expect(cal.free(from: Self.at(0), to: Self.at(51)) == FacilityCapacity(cores: 3, memory: 8))
        #expect(cal.free(from: Self.at(100), to: Self.at(200)) == FacilityCapacity(cores: 6, memory: 12))
        #expect(cal.free(from: Self.at(150), to: Self.at(400)) == FacilityCapacity(cores: 8, memory: 32))
        #expect(cal.free(from: Self.at(-100), to: Self.at(0)) == FacilityCapacity(cores: 8, memory: 32))
    }

    @Test func aBookingEndingExactlyAtTheStartHoldsNothingThen() {
        let cal = CapacityCalendar(capacity: cap, bookings: [Self.booking(0, 100, cores: 8)])
        #expect(cal.free(from: Self.at(100), to: Self.at(200)).cores == 8)
        #expect(cal.free(from: Self.at(99), to: Self.at(200)).cores == 0)
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 1, memory: 1, duration: 10, step: 1) == Self.at(100))
    }

    @Test func backToBackBookingsLeaveNoGap() {
        let cal = CapacityCalendar(capacity: cap, bookings: [Self.booking(0, 10, cores: 8), Self.booking(10, 20, cores: 8)])
        #expect(cal.free(from: Self.at(9), to: Self.at(11)).cores == 0)
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 1, memory: 0, duration: 5, step: 1) == Self.at(20))
        // Starts after a conflict fall on the step grid (t0 is a whole minute since 1970).
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 1, memory: 0, duration: 5, step: 60) == Self.at(60))
    }

    @Test func zeroFreeCapacityFindsNothingInTheWindow() {
        let cal = CapacityCalendar(capacity: cap, bookings: [Self.booking(0, 3_600, cores: 6), Self.booking(0, 3_600, cores: 2)])
        #expect(cal.free(from: Self.at(0), to: Self.at(10)) == FacilityCapacity(cores: 0, memory: 32))
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: Self.at(3_599), cores: 1, memory: 0, duration: 60, step: 1) == nil)
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: Self.at(3_600), cores: 1, memory: 0, duration: 60, step: 1) == Self.at(3_600))
    }

    @Test func aGapIsUsedOnlyWhenTheWholeDurationFits() {
        let cal = CapacityCalendar(capacity: cap, bookings: [Self.booking(0, 100, cores: 8), Self.booking(200, 300, cores: 5)])
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 4, memory: 0, duration: 100, step: 1) == Self.at(100))
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 4, memory: 0, duration: 101, step: 1) == Self.at(300))
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 3, memory: 0, duration: 500, step: 1) == Self.at(100))
        #expect(cal.earliestStart(notBefore: Self.at(150), notAfter: nil, cores: 3, memory: 0, duration: 500, step: 1) == Self.at(150))
    }

    @Test func memoryAloneCanBlock() {
        let cal = CapacityCalendar(capacity: cap, bookings: [Self.booking(0, 100, cores: 0, memory: 30)])
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 8, memory: 2, duration: 10, step: 1) == Self.at(0))
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 1, memory: 3, duration: 10, step: 1) == Self.at(100))
    }

    @Test func moreThanTheCapacityNeverFitsAndUnknownCapacityAlwaysDoes() {
        let cal = CapacityCalendar(capacity: cap)
        #expect(cal.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 9, memory: 0, duration: 1) == nil)
        let unknown = CapacityCalendar(capacity: FacilityCapacity(), bookings: [Self.booking(0, 100, cores: 1_000, memory: 1_000)])
        #expect(unknown.earliestStart(notBefore: Self.at(5), notAfter: Self.at(5), cores: 10_000, memory: 10_000, duration: 50) == Self.at(5))
        #expect(unknown.free(from: Self.at(0), to: Self.at(10)) == FacilityCapacity())
        let coresOnly = CapacityCalendar(capacity: FacilityCapacity(cores: 4), bookings: [Self.booking(0, 100, cores: 4, memory: 1_000)])
        #expect(coresOnly.earliestStart(notBefore: Self.at(0), notAfter: nil, cores: 1, memory: 99_999, duration: 1, step: 1) == Self.at(100))
    }

    @Test func emptyAndAddedBookings() {
        var cal = CapacityCalendar(capacity: cap, bookings: [Self.booking(50, 50, cores: 8), Self.booking(60, 40, cores: 8)])
        #expect(cal.free(from: Self.at(0), to: Self.at(100)).cores == 8)
        cal.add(Self.booking(10, 20, cores: 5))
        #expect(cal.free(from: Self.at(0), to: Self.at(100)).cores == 3)
        #expect(cal.count == 3)
    }
}
